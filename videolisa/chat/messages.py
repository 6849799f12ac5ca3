"""Errors turned into what a user reads: no server paths, what ran out of memory, what to do;
and how far a turn got, to say so."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from videolisa.chat.events import Progress, TurnEvent, TurnFailed
from videolisa.chat.memory import release_freed_memory
from videolisa.errors import UserInputError, is_out_of_memory
from videolisa.video import Video

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = (
    "Something went wrong while answering (the details are in the server log). "
    "Ask again, or attach the video again."
)
OPERATOR_ADVICE = (
    "operators: on a GPU start the app with --load-4bit; lower --max-memory, --sam-batch, "
    "--max-frames or --max-tracks"
)
_DIRECTORIES = re.compile(r"(?<![\w.])/(?:[^/\s:]+/)+")


@dataclass
class TurnStage:
    """How far a turn got, for saying what ran out of memory."""

    stage: str = "decode"
    video: Video | None = None
    tracks: int = 0

    @property
    def what(self) -> str:
        """The video in the user's terms, e.g. "141 frames of 1920×1080"."""
        if self.video is None:
            return "the video"
        return f"{self.video.num_frames} frames of {self.video.width}×{self.video.height}"


@dataclass
class TurnState(TurnStage):
    """How far a turn got: for progress times, and for saying what ran out of memory."""

    started: float = field(default_factory=time.perf_counter)
    text: str = ""  # the answer's text so far (kept in the chat when the turn fails)
    refused_video: bool = False  # the turn's new video could not be read

    def progress(self, stage: str, done: int, total: int) -> Progress:
        self.stage = stage
        return Progress(stage, done, total, time.perf_counter() - self.started)


def guarded(turn: Generator[TurnEvent, None, None], state: TurnState) -> Iterator[TurnEvent]:
    """The events of ``turn``; an error becomes a :class:`TurnFailed` with a message for the
    user (no server path in it) and one log line (a traceback only for bugs). Freed memory goes
    back to the system when the turn ends."""
    try:
        yield from turn
    except UserInputError as error:
        logger.info("turn refused: %s", error)
        yield TurnFailed(hide_paths(str(error)), state.text, state.refused_video)
    except Exception as error:
        if is_out_of_memory(error):
            logger.warning(
                "out of memory while %s (%s): %s; %s",
                state.stage,
                state.what,
                error,
                OPERATOR_ADVICE,
            )
            yield TurnFailed(out_of_memory_message(state), state.text)
        else:
            logger.exception("chat turn failed")
            yield TurnFailed(INTERNAL_ERROR_MESSAGE, state.text)
    finally:
        turn.close()
        release_freed_memory()


def hide_paths(message: str) -> str:
    """``message`` with the folders of absolute paths removed (file names stay), so server
    paths such as upload folders never reach a user."""
    return _DIRECTORIES.sub("", message)


def out_of_memory_message(stage: TurnStage) -> str:
    """What ran out of memory, in the user's terms, and what they can do."""
    what = stage.what
    if stage.stage in ("masks", "render"):
        return (
            f"Ran out of memory while segmenting {stage.tracks} "
            f"object{'s' if stage.tracks != 1 else ''} on {what}. Ask about fewer objects at "
            "once, or use a shorter or smaller video."
        )
    if stage.stage == "answer":
        return (
            f"Ran out of memory while writing the answer about {what}. Use fewer frames "
            "(Settings), or start a new conversation."
        )
    return (
        f"Ran out of memory while reading and encoding {what}. Use a shorter or smaller video, "
        "or fewer frames (Settings)."
    )
