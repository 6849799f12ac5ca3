"""What a chat turn reports as it runs: notices, text, progress, then its end.

:meth:`~videolisa.chat.service.ChatService.run_turn` yields these; the app turns them into chat
messages and the API into its outputs. Plain values only: no Gradio, no tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Notice:
    """A line to show the user with the answer (history trimmed, question cut, new video,
    answer cut at the track limit, refinement unavailable)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """More answer text (``<TRK>`` marks a track)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps of ``stage``: "decode", "encode", "answer", "refine" (a
    tracker starts), "masks" or "render"; ``seconds`` since the turn started."""

    stage: str
    done: int
    total: int
    seconds: float = 0.0


@dataclass(frozen=True)
class TrackSummary:
    """One track of an answer: on how many frames it has a mask, the mean share of the frame
    it covers there (0 to 1), and the frames a person corrected it on by pointing."""

    track: int
    frames: int
    mean_area: float
    corrected_on: tuple[int, ...] = ()


@dataclass(frozen=True)
class TurnDone:
    """The finished answer; with tracks, the folder of its result (``masks/``, result.json),
    the overlay (an MP4, or a PNG for a single image), a zip of the mask PNGs, each track's
    summary, and the video it is about (its file and its key in the service's cache)."""

    answer: str
    num_tracks: int
    num_frames: int = 0
    video: Path | None = None
    video_key: str | None = None
    folder: Path | None = None
    overlay: Path | None = None
    masks_zip: Path | None = None
    tracks: tuple[TrackSummary, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    frame_width: int = 0  # the video's width in pixels


@dataclass(frozen=True)
class TurnFailed:
    """The turn ended without masks; ``message`` is for the user, ``text`` the answer text
    streamed before the failure (kept in the chat); ``refused_video``: the video attached to
    this turn could not be read (the conversation keeps its previous one)."""

    message: str
    text: str = ""
    refused_video: bool = False


TurnEvent = Notice | TextDelta | Progress | TurnDone | TurnFailed
