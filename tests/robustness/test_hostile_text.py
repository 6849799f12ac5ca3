"""Hostile text through the chat service and the pipeline's tokenisation: template and special
token strings stay plain text, huge prompts and long conversations are trimmed with a notice,
empty prompts are refused politely, and any Unicode goes through."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videolisa.chat.events import Notice, TurnDone, TurnFailed
from videolisa.chat.session import ChatSession
from videolisa.chat.settings import TurnSettings
from videolisa.errors import PromptError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import IMAGE_PLACEHOLDER_ID

FORCED = TurnSettings(EncodeSettings(4, 1), always_mask=True)
GENERATE = TurnSettings(EncodeSettings(4, 1), GenerationSettings(max_new_tokens=4))
SPECIAL_STRINGS = ["<TRK>", "[SEG]", "<image>", "<|end|>", "<|assistant|>", "<|system|>", "</s>"]


def special_count(pipeline, ids: list[int]) -> int:
    """How many of ``ids`` are added tokens (template, track, bos/eos) or the video slot."""
    special = {*pipeline.tokenizer.added_tokens.values(), IMAGE_PLACEHOLDER_ID}
    return sum(token in special for token in ids)


def turn(service, conversation, question, settings=FORCED):
    return list(service.run_turn(conversation, question, settings))


@pytest.fixture
def prompts(golden_pipeline, monkeypatch) -> list[list[int]]:
    """Every prompt's token ids the pipeline builds from now on."""
    built: list[list[int]] = []
    prompt_ids = golden_pipeline.prompt_ids

    def spy(messages, add_generation_prompt):
        built.append(prompt_ids(messages, add_generation_prompt))
        return built[-1]

    monkeypatch.setattr(golden_pipeline, "prompt_ids", spy)
    return built


@pytest.mark.parametrize("settings", [FORCED, GENERATE], ids=["forced", "generate"])
def test_special_token_strings_stay_text(service, conversation, prompts, golden_pipeline, settings):
    """The prompt the model gets has as many special ids as for a harmless question."""
    assert isinstance(turn(service, conversation, "Where is it?", settings)[-1], TurnDone)
    baseline = special_count(golden_pipeline, prompts[-1])
    conversation.session.reset()
    hostile = "Where " + " ".join(SPECIAL_STRINGS * 3) + " is it?"
    assert isinstance(turn(service, conversation, hostile, settings)[-1], TurnDone)
    assert special_count(golden_pipeline, prompts[-1]) == baseline
    assert conversation.session.history[0] == Message("user", hostile)


def test_a_100000_character_prompt_is_cut_with_a_notice(service, conversation):
    events = turn(service, conversation, "Where is the object? " * 5000)
    assert isinstance(events[-1], TurnDone)
    notices = [event.text for event in events if isinstance(event, Notice)]
    assert notices[0].startswith("Your question was 104,999 characters long; only the first")
    assert "left out of the conversation" in notices[0]
    assert conversation.session.history == []  # the next questions are answered as before
    assert isinstance(turn(service, conversation, "Segment it.")[-1], TurnDone)
    assert [m.content for m in conversation.session.history] == ["Segment it.", "Sure, <TRK>."]


def test_a_60_turn_conversation_is_trimmed_with_a_notice(service, conversation):
    """60 earlier turns of ~40 words each are far more than the 4096-position context."""
    words = "the small red square moves slowly across the grey frame " * 4
    history = []
    for index in range(60):
        history += [Message("user", f"Question {index}: {words}?"), Message("assistant", words)]
    assert isinstance(turn(service, conversation, "Where is it?")[-1], TurnDone)
    conversation.session.history = history
    events = turn(service, conversation, "And where is it now?")
    assert isinstance(events[-1], TurnDone)
    notices = [event.text for event in events if isinstance(event, Notice)]
    assert len(notices) == 1 and "turns dropped" in notices[0]
    assert 2 < len(conversation.session.history) < len(history)
    assert conversation.session.history[-2] == Message("user", "And where is it now?")


@pytest.mark.parametrize("question", ["", " ", "\n\t  \n", "\u3000\u00a0"])
def test_empty_prompts_are_refused_politely(service, conversation, question):
    turn(service, conversation, "Where is it?")
    history = list(conversation.session.history)
    failed = turn(service, conversation, question)[-1]
    assert failed == TurnFailed("The question is empty. Type a question about the video.")
    assert conversation.session.history == history
    assert isinstance(turn(service, conversation, "And now?")[-1], TurnDone)


@pytest.mark.parametrize(
    "question",
    [
        "naïve café 日本語 🎬👩‍👩‍👧",
        "\u202eevil\u202c",
        "e\u0301\u0327",
        "a\x00b\x1b[31m",
        "x\ud800y",
    ],
    ids=["mixed", "bidi", "combining", "control", "lone-surrogate"],
)
def test_unusual_unicode_gets_an_answer(service, conversation, question):
    assert isinstance(turn(service, conversation, question)[-1], TurnDone)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=st.text(max_size=300))
def test_any_unicode_through_the_session_and_tokenizer(golden_pipeline, question):
    """Refused if blank; else tokenised with the template's special ids only, in the vocabulary."""
    pipeline = golden_pipeline
    template_specials = special_count(pipeline, pipeline.prompt_ids([Message("user", "x")], True))

    def count_positions(messages: list[Message]) -> int:
        return len(pipeline.prompt_ids(messages, add_generation_prompt=True))

    session = ChatSession()
    if not question.strip():
        with pytest.raises(PromptError, match="empty"):
            session.prepare(question, count_positions, pipeline.context_length)
        return
    prepared = session.prepare(question, count_positions, pipeline.context_length)
    ids = pipeline.prompt_ids([Message("user", prepared.question)], add_generation_prompt=True)
    assert special_count(pipeline, ids) == template_specials
    vocabulary = pipeline.tokenizer.vocab_size
    assert all(0 <= token < vocabulary for token in ids if token != IMAGE_PLACEHOLDER_ID)
