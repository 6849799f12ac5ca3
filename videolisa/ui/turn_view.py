"""What one assistant message shows while its turn runs and after it: notices, the answer with
its track tags, progress, then the overlay, the legend of its tracks and the masks zip, all in one
message."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from videolisa.chat.events import Notice, Progress, TextDelta, TurnDone, TurnEvent, TurnFailed
from videolisa.ui.render import answer_html, legend_html

STAGES = {
    "decode": "Reading the video",
    "encode": "Encoding the video",
    "answer": "Writing the answer",
    "refine": "Refining over time",
    "masks": "Segmenting every frame",
    "render": "Packing the masks",
}
STOPPED = "Stopped."
REMOVED = (
    "This answer's overlay and masks were removed to keep the server's disk use within its "
    "bounds; ask again to make them."
)


@dataclass
class TurnView:
    """One assistant message: built from a turn's events (:meth:`apply`), shown as chat
    content (:meth:`content`). ``done`` holds the finished answer (for the legend and frames)."""

    notices: list[str] = field(default_factory=list)
    text: str = ""
    status: str = ""  # progress while running, the error or "Stopped." after
    done: TurnDone | None = None
    failed: TurnFailed | None = None
    stopped: bool = False
    question: str = ""  # what was asked (for the legend)
    overlay: str | None = None  # the overlay shown (redrawn when tracks are hidden)
    shown: set[int] = field(default_factory=set)  # the tracks the overlay shows
    correction: str = ""  # what the last click or box did
    opacity: float = 0.5

    @property
    def finished(self) -> bool:
        return self.stopped or self.done is not None or self.failed is not None

    def stop(self) -> None:
        """The turn was stopped: keep what it showed, say so, take no more events."""
        if not self.finished:
            self.status, self.stopped = STOPPED, True

    def corrected(self, done: TurnDone, notice: str) -> None:
        """The answer corrected by pointing: its new result, every track shown, and what the
        correction did (the last one's notice)."""
        self.done, self.overlay, self.correction = done, str(done.overlay), notice
        self.shown = set(range(done.num_tracks))

    def apply(self, event: TurnEvent) -> None:
        if self.finished:
            return
        if isinstance(event, Notice):
            self.notices.append(event.text)
        elif isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, Progress):
            share = f" {100 * event.done // max(event.total, 1)} %" if event.total > 1 else ""
            self.status = f"{STAGES[event.stage]}…{share} · {event.seconds:.0f} s"
        elif isinstance(event, TurnDone):
            self.text, self.status, self.done = event.answer, "", event
            self.overlay = str(event.overlay) if event.overlay else None
            self.shown = set(range(event.num_tracks))
        elif isinstance(event, TurnFailed):
            self.text, self.status, self.failed = event.text or self.text, event.message, event

    def content(self) -> str | list[Any]:
        """The message's content: its text, then the overlay, the legend and the masks zip."""
        lines = [f"<em>{html.escape(notice)}</em>" for notice in self.notices]
        if self.text:
            lines.append(answer_html(self.text))
        if self.status:
            lines.append(f"<em>{html.escape(self.status)}</em>")
        if self.correction:
            lines.append(f"<em>{html.escape(self.correction)}</em>")
        text = "\n\n".join(lines) or "…"
        done = self.done
        if done is None or not done.num_tracks:
            return text
        if done.folder is not None and not done.folder.exists():
            return f"{text}\n\n<em>{REMOVED}</em>"
        parts: list[Any] = [text]
        if self.overlay:
            parts.append({"path": self.overlay})
        parts.append(legend_html(done.answer, done.tracks, done.num_frames, self.question))
        if done.masks_zip:
            parts.append({"path": str(done.masks_zip)})
        return parts
