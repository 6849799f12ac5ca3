"""Chat session: history trimming to the context, question checks, video switches."""

from __future__ import annotations

import numpy as np
import pytest

from videolisa.chat.session import (
    ChatSession,
    clean_question,
    dropped_turns_notice,
    fit_history,
)
from videolisa.errors import PromptError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.modeling.chat_template import Message

IMAGE_TOKEN_ID = -200
VIDEO_POSITIONS = 100


def fake_count(messages: list[Message]) -> int:
    """10 positions per message plus 100 for the video."""
    return VIDEO_POSITIONS + 10 * len(messages)


def conversation(turns: int) -> list[Message]:
    history = []
    for index in range(turns):
        history += [Message("user", f"question {index}"), Message("assistant", f"answer {index}")]
    return history


# ------------------------------------------------------------------ with a fake counter
def test_history_that_fits_is_kept_whole():
    history = conversation(3)
    kept, dropped = fit_history(history, "now?", fake_count, limit=1000)
    assert kept == history
    assert dropped == 0


@pytest.mark.parametrize("turns", [1, 2, 5, 60])
@pytest.mark.parametrize("limit", [110, 130, 150, 170, 400])
def test_oldest_turns_are_dropped_until_it_fits(turns, limit):
    history = conversation(turns)
    kept, dropped = fit_history(history, "now?", fake_count, limit)
    fitting_turns = (limit - VIDEO_POSITIONS - 10) // 20
    expected = max(0, turns - fitting_turns)
    assert dropped == expected
    assert kept == history[2 * expected :]  # the newest turns, order preserved
    assert fake_count([*kept, Message("user", "now?")]) <= limit


def test_assistant_messages_stay_with_their_question():
    history = [
        Message("user", "q0"),
        Message("assistant", "a0"),
        Message("assistant", "a0 continued"),
        Message("user", "q1"),
        Message("assistant", "a1"),
    ]
    kept, dropped = fit_history(history, "now?", fake_count, limit=VIDEO_POSITIONS + 30)
    assert (kept, dropped) == (history[3:], 1)


def test_question_alone_too_long_says_by_how_much():
    with pytest.raises(PromptError) as caught:
        fit_history(conversation(4), "now?", fake_count, limit=VIDEO_POSITIONS + 3)
    message = str(caught.value)
    assert "7 more positions" in message
    assert "shorter question" in message
    assert "fewer frames" in message


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_refused_politely(question):
    with pytest.raises(PromptError, match="Type a question"):
        ChatSession().prepare(question, fake_count, limit=1000)


def test_a_long_question_is_cut_with_a_notice_and_left_out_of_the_history():
    session = ChatSession(history=conversation(2))
    prepared = session.prepare("  " + "x" * 5000 + "  ", fake_count, limit=1000)
    assert prepared.question == "x" * 4000 and prepared.truncated
    assert prepared.notices == [
        "Your question was 5,000 characters long; only the first 4,000 were used, and this "
        "turn is left out of the conversation so that it does not affect the next answers."
    ]
    session.record_turn(prepared, "Sure, <TRK>.")
    assert session.history == conversation(2)  # the next questions are answered as before
    assert clean_question(" short ") == "short"


def test_a_question_is_cut_to_leave_the_answer_its_room():
    def per_character(messages: list[Message]) -> int:  # the video, the answer, the text
        return VIDEO_POSITIONS + 128 + sum(len(m.content) for m in messages)

    prepared = ChatSession().prepare("y" * 3000, per_character, limit=1000)
    assert prepared.question == "y" * (1000 - VIDEO_POSITIONS - 128) and prepared.truncated
    with pytest.raises(PromptError, match="more positions than the model's context holds"):
        ChatSession().prepare("y" * 3000, per_character, limit=300)  # not even 200 characters


def test_notice_text():
    assert dropped_turns_notice(1) == (
        "Earlier messages were left out to fit the model's context: 1 turn dropped."
    )
    assert dropped_turns_notice(3).endswith(": 3 turns dropped.")


def test_session_prepare_and_record():
    session = ChatSession(history=conversation(5), video_key="a")
    prepared = session.prepare("  next?  ", fake_count, limit=VIDEO_POSITIONS + 50)
    assert prepared.question == "next?"
    assert prepared.dropped_turns == 3
    assert prepared.history == conversation(5)[6:]
    assert prepared.notices == [dropped_turns_notice(3)]
    session.record_turn(prepared, "Sure, <TRK>.")
    assert session.history == [
        *conversation(5)[6:],
        Message("user", "next?"),
        Message("assistant", "Sure, <TRK>."),
    ]
    # The dropped turns are gone for good: the next question reports only new drops.
    assert session.prepare("again?", fake_count, limit=VIDEO_POSITIONS + 70).notices == []


def test_reset_and_video_switch():
    session = ChatSession(history=conversation(2), video_key="a")
    assert session.set_video("a") is False
    assert session.history == conversation(2)
    assert session.set_video("b") is True
    assert (session.history, session.video_key) == ([], "b")
    session.history = conversation(1)
    session.reset()
    assert (session.history, session.video_key) == ([], "b")


# ------------------------------------------------------------------ with the real tokenizer
@pytest.fixture(scope="module")
def real_count(golden_pipeline):
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 56, 3), dtype=np.uint8)
    encoded = golden_pipeline.encode(frames, EncodeSettings(4, 2))

    def count(messages: list[Message]) -> int:
        ids = golden_pipeline.prompt_ids(messages, True)
        return golden_pipeline.sequence_length(ids, encoded)

    return count


def test_real_sixty_turn_conversation_fits(golden_pipeline, real_count):
    history = [
        message
        for index in range(60)
        for message in (
            Message("user", f"Question {index}: what happens to the red square next? " * 3),
            Message("assistant", f"Answer {index}: it moves to the left, see <TRK>. " * 3),
        )
    ]
    limit = golden_pipeline.context_length
    assert real_count([*history, Message("user", "Where is it now?")]) > limit

    session = ChatSession(history=history)
    prepared = session.prepare("Where is it now?", real_count, limit)
    assert 0 < prepared.dropped_turns < 60
    assert prepared.history == history[2 * prepared.dropped_turns :]
    messages = [*prepared.history, Message("user", prepared.question)]
    assert real_count(messages) <= limit
    # One more turn would not have fitted: only as many turns as needed were dropped.
    one_more = history[2 * prepared.dropped_turns - 2 :]
    assert real_count([*one_more, Message("user", prepared.question)]) > limit
    ids = golden_pipeline.prompt_ids(messages, True)
    assert ids.count(IMAGE_TOKEN_ID) == 1
    assert messages[-1] == Message("user", "Where is it now?")


def test_real_huge_question(golden_pipeline, real_count):
    huge = "Is the square red? " * 5264  # 100,016 characters
    limit = golden_pipeline.context_length
    with pytest.raises(PromptError, match="more positions than the model's context holds"):
        fit_history(conversation(3), huge, real_count, limit)
    # The tiny test tokenizer spends about 3 positions per 4 characters, so even the default
    # 4,000 characters leave no room beside the video: the question is cut further.
    prepared = ChatSession(history=conversation(3)).prepare(huge, real_count, limit)
    assert huge.startswith(prepared.question) and 200 < len(prepared.question) < 4000
    assert prepared.notices[0].startswith("Your question was 100,015 characters long; only the")
    assert real_count([Message("user", prepared.question + "Is the ")]) > limit  # the longest
    messages = [*prepared.history, Message("user", prepared.question)]
    assert real_count(messages) <= limit
    assert golden_pipeline.prompt_ids(messages, True).count(IMAGE_TOKEN_ID) == 1
