"""Long conversations mixing every kind, and the grammar every toy-world answer follows."""

from __future__ import annotations

import itertools

import pytest

from videolisa.errors import ConfigError
from videolisa.toyworld import (
    CONVERSATION,
    KINDS,
    SAMPLE_KINDS,
    TRK,
    WorldConfig,
    check_kinds,
    is_well_formed,
    iter_samples,
)
from videolisa.toyworld import (
    test_sample as held_out_sample,
)
from videolisa.toyworld.questions import CONVERSATION_TURNS, FOLLOW_UPS

CONFIG = WorldConfig(min_frames=8, max_frames=24, min_size=64, max_size=96)


def test_every_generated_answer_is_a_sentence_of_the_grammar():
    for kind in SAMPLE_KINDS:
        for sample in itertools.islice(iter_samples(5, [kind], CONFIG), 30):
            for turn in sample.turns:
                assert is_well_formed(turn.answer), (kind, turn.answer)


@pytest.mark.parametrize(
    "answer",
    [
        "St is track 0.",
        "There is 1 square. There",
        "Sure, it is <TRK>",
        "It is red <TRK>.",
        "Sure, they are <TRK>.",
        "There are 1 objects.",
        "It is a purple.",
        "",
    ],
)
def test_broken_answers_are_not(answer):
    assert not is_well_formed(answer)


def test_a_conversation_has_five_turns_mixing_kinds_and_follow_ups_follow():
    kinds_seen = set()
    for index in range(20):
        sample = held_out_sample(CONVERSATION, index, CONFIG)
        assert sample.kind == CONVERSATION and len(sample.turns) == CONVERSATION_TURNS
        assert len({t.question for t in sample.turns if t.question not in FOLLOW_UPS}) == len(
            [t for t in sample.turns if t.question not in FOLLOW_UPS]
        )
        for before, turn in itertools.pairwise(sample.turns):
            if turn.question in FOLLOW_UPS:
                assert TRK not in before.answer  # asked right after its text question
        kinds_seen |= {TRK in t.answer for t in sample.turns}
    assert kinds_seen == {True, False}  # text and segmentation turns both occur
    again = held_out_sample(CONVERSATION, 3, CONFIG)
    assert again.turns == held_out_sample(CONVERSATION, 3, CONFIG).turns


def test_the_conversation_kind_is_for_samples_not_for_disk():
    assert CONVERSATION not in KINDS
    assert check_kinds([CONVERSATION], SAMPLE_KINDS) == (CONVERSATION,)
    with pytest.raises(ConfigError, match="Use one or more of"):
        check_kinds([CONVERSATION])
