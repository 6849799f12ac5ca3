"""One user's conversation: its chat session, its video, a video waiting to be used, a folder for
its result files, and a mark at the start of every turn to roll back to (Undo, Edit, Retry)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
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


@dataclass(frozen=True)
class StoredResult:
    """One answer's result folder on disk, its bytes and when it was written."""

    folder: Path
    nbytes: int
    created: float = field(default_factory=time.monotonic)


@dataclass(eq=False)  # a conversation is itself, whatever it holds
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
    uploads: int = 0  # uploads taken over so far
    adopted: set[Path] = field(default_factory=set)  # the uploads taken over
    marks: list[TurnMark] = field(default_factory=list)  # one per turn begun, in order
    results: list[StoredResult] = field(default_factory=list)  # on disk, oldest first
    last_used: float = field(default_factory=time.monotonic)
    busy: bool = False  # a turn is running
    closed: bool = False

    def attach(self, path: str | Path, upload: bool = False) -> Path:
        """Use ``path`` as the video from the next turn on (if that turn can read it); an
        ``upload`` becomes this conversation's own file first (:meth:`adopt`). The path used."""
        self.pending = self.adopt(path) if upload else Path(path).resolve()
        return self.pending

    def adopt(self, upload: str | Path) -> Path:
        """Make an uploaded file this conversation's own: a hard link in its folder (deleted
        with it). The upload itself goes when the conversation closes, unless another
        conversation has taken it over too (the same bytes uploaded twice share one file). The
        new path (``upload`` itself where it cannot be linked)."""
        source = Path(upload).resolve()
        self.uploads += 1
        target = self.workdir / "uploads" / f"{self.uploads:03d}-{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system, or gone: use it where it is
            return source
        self.adopted.add(source)
        return target

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

    def keep_result(self, folder: Path, nbytes: int) -> None:
        """Count ``folder`` (``nbytes`` on disk) among this conversation's stored results."""
        self.results.append(StoredResult(folder, nbytes))

    @property
    def result_bytes(self) -> int:
        return sum(result.nbytes for result in self.results)

    def remove_result(self, result: StoredResult) -> None:
        """Delete a stored result's files (to stay within a disk bound)."""
        self.results.remove(result)
        shutil.rmtree(result.folder, ignore_errors=True)
        logger.info("removed a result of %d bytes to stay within the disk bounds", result.nbytes)

    def close(self) -> None:
        """Delete this conversation's files, and the uploads it took over that no other
        conversation holds; later turns are refused."""
        self.closed = True
        shutil.rmtree(self.workdir, ignore_errors=True)
        for upload in self.adopted:
            with contextlib.suppress(OSError):  # gone already
                if upload.stat().st_nlink == 1:  # only the upload itself is left
                    upload.unlink()
                    with contextlib.suppress(OSError):  # its folder, if now empty
                        upload.parent.rmdir()
        logger.debug("removed %s", self.workdir)
