"""Long work as generators, as SAM 2's ``propagate_in_video`` streams its results.

Encoding a video, generating an answer and decoding masks are generators: each ``next()`` does
one bounded piece of work (a batch of frames, one token, a chunk of masks) and yields what it
made or how far it got; the generator's return value is the result. A caller sees progress as it
happens and stops the work by closing the generator (or simply not asking for more), so no thread
outlives the request that started it.

    encoded = drain(pipeline.encode_steps(frames), on_item=print)   # run to the end
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class StepProgress:
    """``done`` of ``total`` units of ``stage`` ("clip_encode", "sam_encode", "mask_decode")."""

    stage: str
    done: int
    total: int


ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


def drain(
    steps: Generator[Item, None, Result], on_item: Callable[[Item], None] | None = None
) -> Result:
    """Run ``steps`` to the end, handing each yielded item to ``on_item``; its return value."""
    while True:
        try:
            item = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_item is not None:
            on_item(item)


def progress_to(callback: ProgressCallback | None) -> Callable[[StepProgress], None] | None:
    """An ``on_item`` for :func:`drain` that reports :class:`StepProgress` items to a
    ``(stage, done, total)`` callback (None when there is none)."""
    if callback is None:
        return None

    def report(item: StepProgress) -> None:
        callback(item.stage, item.done, item.total)

    return report
