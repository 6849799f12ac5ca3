"""Every open conversation of a server: opening, closing (at once or when idle) and keeping
their result files within the disk bounds."""

from __future__ import annotations

import logging
import tempfile
import time
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import TypeVar

from videolisa.chat.conversation import Conversation
from videolisa.chat.session import DEFAULT_MAX_QUESTION_CHARS, ChatSession
from videolisa.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MAX_DISK = 2 * 2**30  # result files of all conversations together
DEFAULT_MAX_CONVERSATION_DISK = 256 * 2**20  # result files of one conversation
Item = TypeVar("Item")


class ConversationStore:
    """The open conversations, each with a folder under ``root``.

    Questions longer than ``max_question_chars`` are cut (a model trained on short questions
    wants less). Result files of one conversation stay within ``max_conversation_disk_bytes``
    and those of all within ``max_disk_bytes``: beyond them the oldest results are removed (an
    answer's own result always stays)."""

    def __init__(
        self,
        root: str | Path | None = None,
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        max_disk_bytes: int = DEFAULT_MAX_DISK,
        max_conversation_disk_bytes: int = DEFAULT_MAX_CONVERSATION_DISK,
    ) -> None:
        self.root = Path(root or tempfile.gettempdir())
        self.max_question_chars = max_question_chars
        self.max_disk_bytes = max_disk_bytes
        self.max_conversation_disk_bytes = max_conversation_disk_bytes
        self._open: weakref.WeakSet[Conversation] = weakref.WeakSet()

    def open(self) -> Conversation:
        """A new conversation with its own temporary folder (removed by :meth:`close`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="videolisa-chat-", dir=self.root))
        conversation = Conversation(folder, self.session())
        self._open.add(conversation)
        return conversation

    def session(self) -> ChatSession:
        """A new chat session with this server's question limit."""
        return ChatSession(max_question_chars=self.max_question_chars)

    def close(self, conversation: Conversation) -> None:
        """End ``conversation`` and delete its files (its uploads and results)."""
        self._open.discard(conversation)
        conversation.close()

    def close_idle(self, seconds: float) -> int:
        """Close the conversations unused for ``seconds`` (not one that is answering); how
        many."""
        now = time.monotonic()
        idle = [c for c in list(self._open) if now - c.last_used > seconds and not c.busy]
        for conversation in idle:
            self.close(conversation)
        if idle:
            logger.info("closed %d conversations idle for over %d s", len(idle), seconds)
        return len(idle)

    @staticmethod
    def in_use(
        conversation: Conversation, work: Generator[Item, None, None]
    ) -> Generator[Item, None, None]:
        """``work``, with ``conversation`` marked busy while it runs and used when it ends.

        Raises:
            ConfigError: the conversation was closed.
        """
        if conversation.closed:
            raise ConfigError(
                "This conversation was closed (it was idle too long, or cleared).",
                "Start again: attach the video with your question.",
            )
        conversation.busy = True
        try:
            yield from work
        finally:
            conversation.busy = False
            conversation.last_used = time.monotonic()

    def keep_disk_bounds(self, latest: Conversation) -> None:
        """Remove the oldest results of ``latest`` beyond its bound, then the oldest of all
        conversations beyond the server's; the newest result of each conversation stays."""
        while latest.result_bytes > self.max_conversation_disk_bytes and len(latest.results) > 1:
            latest.remove_result(latest.results[0])
        conversations = [c for c in list(self._open) if c.results]
        total = sum(c.result_bytes for c in conversations)
        while total > self.max_disk_bytes:
            removable = [(c.results[0], c) for c in conversations if len(c.results) > 1]
            if not removable:
                break
            oldest, owner = min(removable, key=lambda pair: pair[0].created)
            owner.remove_result(oldest)
            total -= oldest.nbytes
