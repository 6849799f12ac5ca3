"""User-facing errors: what was wrong, and how to fix it.

Everything a user can cause (a bad file, a wrong flag, a prompt that does not fit) raises a
subclass of :class:`UserInputError`. The CLI prints ``str(error)`` on one line and exits non-zero;
the app shows it as an assistant message. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserInputError(Exception):
    """An input the user can fix. ``str()`` is one line: the problem, then the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}" if fix else problem)


class VideoError(UserInputError):
    """A video or image that cannot be read, or exceeds a configured limit."""


class CheckpointError(UserInputError):
    """A model folder or hub id that is not a usable VideoLISA checkpoint."""


class PromptError(UserInputError):
    """A prompt that is empty or does not fit the model's context window."""


class ConfigError(UserInputError):
    """An option value outside what is allowed (names the allowed values)."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for Python's MemoryError and PyTorch's out-of-memory errors (CUDA, MPS, CPU;
    ``torch.OutOfMemoryError`` even without a message)."""
    return (
        isinstance(error, MemoryError)
        or type(error).__name__ == "OutOfMemoryError"
        or "out of memory" in str(error).lower()
    )
