"""One user's conversation: its chat session, its video, a video waiting to be used, a folder for
its result files, and a mark at the start of every turn to roll back to (Undo, Edit, Retry)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from videolisa.chat.session import ChatSession
from videolisa.modeling.chat_template import Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnMark:
    """What a conversation was before a turn: its history, video and pending video."""

    history: tuple[Message, ...]
    video_key: str | None
    video: Path | None
    pending: Path | None


@dataclass
class Conversation:
    """One user's state.

    A newly attached video is ``pending`` until a turn has read it: a file that cannot be read
    is refused once and the conversation keeps its previous video and history. Every turn
    starts with :meth:`begin_turn`; :meth:`rollback` returns to the start of a turn, undoing it
    and every later one (history, video and pending video exactly as they were)."""

    workdir: Path
    session: ChatSession = field(default_factory=ChatSession)
    video: Path | None = None
    pending: Path | None = None
    folders: int = 0  # result folders made so far
    marks: list[TurnMark] = field(default_factory=list)  # one per turn begun, in order

    def attach(self, path: str | Path) -> None:
        """Use ``path`` as the video from the next turn on (if that turn can read it)."""
        self.pending = Path(path).resolve()

    def begin_turn(self) -> int:
        """Mark the start of a new turn (before its video is attached); its number."""
        self.marks.append(
            TurnMark(tuple(self.session.history), self.session.video_key, self.video, self.pending)
        )
        return len(self.marks) - 1

    def rollback(self, turn: int) -> None:
        """Undo turn ``turn`` and every later one: the history, the video and the pending video
        are what they were when it began.

        Raises:
            IndexError: no such turn.
        """
        mark = self.marks[turn]
        del self.marks[turn:]
        self.session.history = list(mark.history)
        self.session.video_key = mark.video_key
        self.video, self.pending = mark.video, mark.pending

    def next_folder(self) -> Path:
        """A new folder under ``workdir`` for one turn's files."""
        self.folders += 1
        folder = self.workdir / f"turn-{self.folders:03d}"
        folder.mkdir(parents=True)
        return folder

    def close(self) -> None:
        """Delete this conversation's files."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        logger.debug("removed %s", self.workdir)
