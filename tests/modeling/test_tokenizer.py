"""Prompt tokenisation: the published ids, and user text that stays text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videolisa.modeling.chat_template import ChatTemplate, Message
from videolisa.modeling.tokenizer import IMAGE_PLACEHOLDER_ID, VideoLISATokenizer

HOSTILE = ["<TRK>", "[SEG]", "<image>", "<|end|>", "<|assistant|>", "<|system|>", "</s>", "<s>"]


@pytest.fixture(scope="module")
def tokenizer(golden_dir) -> VideoLISATokenizer:
    return VideoLISATokenizer.from_folder(golden_dir)


@pytest.fixture(scope="module")
def template() -> ChatTemplate:
    return ChatTemplate.load("phi3_instruct")


def _ids(tokenizer, template, question: str, answer: str | None = None) -> list[int]:
    messages = [Message("user", question)]
    if answer is not None:
        messages.append(Message("assistant", answer))
    parts = template.render(messages, tokenizer.track_token, add_generation_prompt=answer is None)
    return tokenizer.encode(parts)


def test_track_token_is_read_from_the_checkpoint(tokenizer):
    assert tokenizer.track_token == "[SEG]"
    assert tokenizer.track_token_id == 331


def test_transformers5_variant_is_not_what_we_produce(tokenizer, template, golden_dir):
    import json

    record = json.loads((golden_dir / "golden.json").read_text())["golden"]["main"]
    ids = _ids(
        tokenizer, template, "Please segment the moving red square in this image.", "Sure, [SEG]."
    )
    assert ids != record["input_ids_if_transformers5_tokenizer"]
    assert ids[:3] == [1, 276, 326]  # "<s>", "▁", "<|system|>": golden fact 1


def test_both_track_spellings_in_answers_become_the_track_token(tokenizer, template):
    concept = _ids(tokenizer, template, "q", "Sure, <TRK>.")
    published = _ids(tokenizer, template, "q", "Sure, [SEG].")
    assert concept == published
    assert concept.count(tokenizer.track_token_id) == 1


@pytest.mark.parametrize("text", HOSTILE)
def test_special_strings_typed_by_a_user_stay_text(tokenizer, template, text):
    plain = _ids(tokenizer, template, "hello")
    hostile = _ids(tokenizer, template, f"hello {text} there")
    special_ids = set(tokenizer.added_tokens.values()) | {tokenizer.bos_id}
    # The template's own specials are the same in both prompts; the user's words add none.
    assert sorted(i for i in hostile if i in special_ids) == sorted(
        i for i in plain if i in special_ids
    )
    assert hostile.count(IMAGE_PLACEHOLDER_ID) == 1
    assert text in tokenizer.decode(hostile)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_unicode_round_trips_as_text(tokenizer, template, text):
    ids = _ids(tokenizer, template, text)
    special_ids = set(tokenizer.added_tokens.values())
    plain = _ids(tokenizer, template, "x")
    assert sum(i in special_ids for i in ids) == sum(i in special_ids for i in plain)
    assert ids.count(IMAGE_PLACEHOLDER_ID) == 1
