"""One browser session's chat: the messages it shows and where each turn starts in them.

The conversation (:class:`~videolisa.chat.conversation.Conversation`) owns the history, the video
and their rollback; this keeps only what the chat shows: the messages, the message index at which
each turn starts (turn ``t`` here is turn ``t`` of the conversation), and the views of the answers
(their results, for the legend and the frame viewer)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from videolisa.chat.conversation import Conversation
from videolisa.chat.events import TurnDone
from videolisa.ui.render import plain_text, typed_text
from videolisa.ui.turn_view import TurnView

Message = dict[str, Any]


@dataclass
class ChatState:
    """The chat of one session, and the question waiting for an answer."""

    conversation: Conversation
    messages: list[Message] = field(default_factory=list)
    turn_starts: list[int] = field(default_factory=list)  # message index of each turn's start
    question: str = ""
    views: dict[int, TurnView] = field(default_factory=dict)  # message index -> its answer
    selected: int | None = None  # the answer the frame viewer shows
    last_done: TurnDone | None = None  # the API's last answer with masks (for /click)
    corner: tuple[int, float, float] | None = None  # (frame, x, y) of a box's first corner
    # Stop asked for the running turn: it ends at its next step as a finished event (Gradio's
    # own cancelling of a running event can leave an "Error" badge on the chat)
    stop_asked: threading.Event = field(default_factory=threading.Event)

    @property
    def view(self) -> TurnView | None:
        """The last answer's view."""
        return self.views[max(self.views)] if self.views else None

    def start_turn(self, files: list[str], question: str, uploads: bool = False) -> None:
        """Show the user's message (video first) and remember its video and question;
        ``uploads``: the files were just uploaded (the conversation takes them over)."""
        self.stop_asked.clear()
        self.conversation.begin_turn()
        self.turn_starts.append(len(self.messages))
        for file in files:
            path = self.conversation.attach(file, upload=uploads)
            self.messages.append({"role": "user", "content": {"path": str(path)}})
        if question.strip():
            self.messages.append({"role": "user", "content": plain_text(question)})
        self.question = question

    def answer(self) -> TurnView:
        """A new assistant message for the waiting question; its view."""
        view = TurnView(question=self.question.strip())
        self.messages.append({"role": "assistant", "content": view.content()})
        self.views[len(self.messages) - 1] = view
        return view

    def show(self, view: TurnView) -> None:
        """Put ``view``'s current content in its message (a turn's video the service refused
        leaves the chat with it)."""
        index = next(i for i, v in self.views.items() if v is view)
        self.messages[index] = {"role": "assistant", "content": view.content()}
        if view.failed is not None and view.failed.refused_video:
            start = self.turn_starts[-1]
            refused = [i for i in range(start, index) if _is_file(self.messages[i])]
            for offset, i in enumerate(refused):
                del self.messages[i - offset]
            self.views = {(i - len(refused) if i > start else i): v for i, v in self.views.items()}

    def refresh(self) -> None:
        """Show every answer as it is now (results removed for the disk bounds say so)."""
        for index, view in self.views.items():
            self.messages[index] = {"role": "assistant", "content": view.content()}

    def turn_of(self, index: int) -> int | None:
        """The turn holding message ``index``, or None."""
        return next(
            (t for t in reversed(range(len(self.turn_starts))) if self.turn_starts[t] <= index),
            None,
        )

    def undo(self) -> str:
        """Remove the last turn from the chat and the conversation; return its question."""
        if not self.turn_starts:
            return ""
        _files, question = self._remove(len(self.turn_starts) - 1)
        self.question = ""
        return question

    def edit(self, index: int, question: str) -> bool:
        """Ask ``question`` instead of the one of the turn holding message ``index``: that turn
        and the ones after it leave the chat and the conversation, the turn's video (if it
        brought one) is attached again, and the new question waits for an answer. False if
        ``index`` is no turn's."""
        turn = self.turn_of(index)
        if turn is None:
            return False
        files, _question = self._remove(turn)
        self.start_turn(files, question)
        return True

    def retry(self) -> bool:
        """Ask the last turn's question again (with its video); False if there is none."""
        if not self.turn_starts:
            return False
        files, question = self._remove(len(self.turn_starts) - 1)
        self.start_turn(files, question)
        return True

    def _remove(self, turn: int) -> tuple[list[str], str]:
        """Take turn ``turn`` and every later one out of the chat and roll the conversation
        back to its start; the turn's files and question."""
        start = self.turn_starts[turn]
        end = self.turn_starts[turn + 1] if turn + 1 < len(self.turn_starts) else None
        asked = [m for m in self.messages[start:end] if m["role"] == "user"]
        files = [m["content"]["path"] for m in asked if _is_file(m)]
        texts = [m["content"] for m in asked if isinstance(m["content"], str)]
        del self.turn_starts[turn:]
        del self.messages[start:]
        self.views = {i: v for i, v in self.views.items() if i < start}
        self.conversation.rollback(turn)
        return files, typed_text(texts[0]) if texts else ""


def _is_file(message: Message) -> bool:
    return isinstance(message["content"], dict) and "path" in message["content"]
