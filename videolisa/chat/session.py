"""The conversation state of one user: history, current video, and fitting it into the context.

UI-free: knows nothing of Gradio or tensors. Positions are counted by a callable the caller
supplies (the pipeline's tokenizer and the encoded video), so this module only decides *which*
messages go into the prompt.

Limits, in the order :meth:`ChatSession.prepare` applies them:

1. an empty or whitespace-only question is refused (:class:`~videolisa.errors.PromptError`);
2. a question longer than ``max_question_chars``, or too long to leave the answer its room
   beside the video, is **truncated** (with a notice), so that a pasted wall of text still gets
   an answer about its beginning instead of an error; such a turn is answered but not kept in
   the history, so the questions after it are answered as if it had not been asked;
3. the oldest complete turns are dropped until the prompt fits (:func:`fit_history`, with a
   notice); if even the shortest question does not fit, ``PromptError`` says by how much.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from videolisa.errors import PromptError
from videolisa.modeling.chat_template import Message

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUESTION_CHARS = 4_000
SHORTEST_CUT = 200  # a question is never cut to fewer characters than this

PositionCounter = Callable[[list[Message]], int]
"""Positions a prompt of these messages takes (video tokens and any answer reserve included)."""


@dataclass(frozen=True)
class PreparedTurn:
    """What to send the model for one question, and what to tell the user about it."""

    question: str  # stripped, possibly truncated
    history: list[Message]  # the completed turns that still fit, oldest first
    dropped_turns: int
    notices: list[str]  # user-facing lines (truncation, dropped turns); empty if none
    truncated: bool = False  # the question was cut: the turn is not kept in the history


@dataclass
class ChatSession:
    """One user's conversation: completed turns about the video ``video_key``."""

    history: list[Message] = field(default_factory=list)
    video_key: str | None = None
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS

    def set_video(self, key: str | None) -> bool:
        """Switch to the video ``key``; a different video clears the history. True if switched."""
        if key == self.video_key:
            return False
        logger.debug(
            "video %s -> %s: history of %d messages cleared", self.video_key, key, len(self.history)
        )
        self.video_key = key
        self.history = []
        return True

    def reset(self) -> None:
        """Forget the conversation (the Clear button); the current video stays."""
        self.history = []

    def prepare(self, question: str, count_positions: PositionCounter, limit: int) -> PreparedTurn:
        """Check and truncate ``question``, then drop the oldest turns so the prompt fits.

        Raises:
            PromptError: the question is empty, or does not fit ``limit`` even alone.
        """
        text = clean_question(question)
        cut = fit_question(text[: self.max_question_chars], count_positions, limit)
        history, dropped = fit_history(self.history, cut, count_positions, limit)
        notices = []
        if len(cut) < len(text):
            notices.append(truncation_notice(len(text), len(cut)))
        if dropped:
            notices.append(dropped_turns_notice(dropped))
        return PreparedTurn(cut, history, dropped, notices, truncated=len(cut) < len(text))

    def record_turn(self, prepared: PreparedTurn, answer: str) -> None:
        """Store a completed turn. The history becomes what the model saw (turns dropped to fit
        stay dropped, so the notice is shown once) plus this question and ``answer`` (not a
        truncated question's turn: it would throw the next answers off)."""
        if prepared.truncated:
            self.history = list(prepared.history)
            return
        self.history = [
            *prepared.history,
            Message("user", prepared.question),
            Message("assistant", answer),
        ]


def clean_question(question: str) -> str:
    """The stripped question.

    Raises:
        PromptError: the question is empty or whitespace only.
    """
    text = question.strip()
    if not text:
        raise PromptError("The question is empty.", "Type a question about the video.")
    return text


def fit_question(question: str, count_positions: PositionCounter, limit: int) -> str:
    """``question``, cut to the longest beginning that fits ``limit`` positions alone (with the
    video and the answer's room), but never below :data:`SHORTEST_CUT` characters; the counts
    grow with the length, so the cut is found by bisection."""

    def fits(length: int) -> bool:
        return count_positions([Message("user", question[:length])]) <= limit

    if fits(len(question)) or len(question) <= SHORTEST_CUT:
        return question
    low, high = SHORTEST_CUT, len(question)  # fits(low) is assumed, fits(high) does not hold
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return question[:low]


def truncation_notice(length: int, kept: int) -> str:
    """The user-facing line saying a question was cut and left out of the history."""
    return (
        f"Your question was {length:,} characters long; only the first {kept:,} were used, and "
        "this turn is left out of the conversation so that it does not affect the next answers."
    )


def fit_history(
    history: Sequence[Message],
    question: str,
    count_positions: PositionCounter,
    limit: int,
) -> tuple[list[Message], int]:
    """Drop the oldest complete turns of ``history`` until the prompt with ``question`` fits.

    A turn is a user message and the assistant messages after it. The question is always kept,
    and so is the video (the template puts it with the first user message that remains).
    Positions grow with the turns kept, so the fewest turns to drop are found by bisection.

    Returns:
        The kept history (order preserved) and the number of dropped turns.

    Raises:
        PromptError: even ``question`` alone needs more than ``limit`` positions.
    """
    turns = _turns(history)
    current = Message("user", question)

    def fits(dropped: int) -> bool:
        return count_positions([*_flatten(turns[dropped:]), current]) <= limit

    if fits(0):
        return list(history), 0
    alone = count_positions([current])
    if alone > limit:
        raise PromptError(
            f"The question needs {alone - limit} more positions than the model's context holds "
            f"({alone} with the video, limit {limit}).",
            "Ask a shorter question or use fewer frames.",
        )
    low, high = 0, len(turns)  # fits(high) holds, fits(low) does not
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    logger.info("dropped %d of %d turns to fit %d positions", high, len(turns), limit)
    return _flatten(turns[high:]), high


def dropped_turns_notice(count: int) -> str:
    """The user-facing line saying that ``count`` earlier turns were left out."""
    plural = "turn" if count == 1 else "turns"
    return f"Earlier messages were left out to fit the model's context: {count} {plural} dropped."


def _turns(history: Sequence[Message]) -> list[list[Message]]:
    """``history`` split into turns, each starting at a user message."""
    turns: list[list[Message]] = []
    for message in history:
        if message.role == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def _flatten(turns: Sequence[list[Message]]) -> list[Message]:
    return [message for turn in turns for message in turn]
