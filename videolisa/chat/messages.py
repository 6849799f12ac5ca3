"""Errors turned into what a user reads: no server paths, what ran out of memory, what to do."""

from __future__ import annotations

import re
from dataclasses import dataclass

from videolisa.video import Video

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
