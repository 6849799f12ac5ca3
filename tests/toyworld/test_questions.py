"""Every generated question is answerable from the video, and its answer is true.

The checks here re-derive each answer from the object specs and the masks, following the rules
documented in :mod:`videolisa.toyworld.questions` (margins, clear directions, canonical order).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
import pytest

from videolisa.errors import ConfigError
from videolisa.toyworld import (
    COLOURS,
    KINDS,
    SHAPES,
    TRK,
    Sample,
    Turn,
    WorldConfig,
    generate_sample,
    iter_samples,
)
from videolisa.toyworld import test_set as held_out_set
from videolisa.toyworld.world import trajectory

CONFIG = WorldConfig(min_frames=8, max_frames=24, min_size=64, max_size=96)
PER_KIND = 40
PLURALS = {f"{shape}s": shape for shape in SHAPES}
AXES = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}
SEGMENT = re.compile(
    r"(?:Segment|Please segment|Can you segment) (?P<np>.+)[.?]"
    r"|Where is (?P<np2>.+)\? Please segment it\."
)
ABOUT = re.compile(
    r"(?:What colour is (?P<colour>.+)\?|Which colour does (?P<colour2>.+) have\?"
    r"|(?:What|Which) shape is (?P<shape>.+)\?"
    r"|(?:Does (?P<moves>.+) move|Is (?P<moves2>.+) moving)\?"
    r"|(?:Which way|In which direction) does (?P<way>.+) move\?)"
)


@pytest.fixture(scope="module")
def samples() -> dict[str, list[Sample]]:
    return {
        kind: list(itertools.islice(iter_samples(11, [kind], CONFIG), PER_KIND)) for kind in KINDS
    }


def steps(sample: Sample, n: int) -> np.ndarray:
    """(T-1, 2) displacement of object ``n`` per frame."""
    return np.diff(trajectory(sample.objects[n], *sample.masks.shape[1:]), axis=0)


def moves(sample: Sample, n: int, direction: str, dominance: float) -> np.ndarray:
    axis, sign = AXES[direction]
    d = steps(sample, n)
    along, across = d[:, axis] * sign, np.abs(d[:, 1 - axis])
    return (along > 0) & (along >= dominance * across)


def clear_direction(sample: Sample, n: int) -> str | None:
    found = [d for d in AXES if moves(sample, n, d, 2.0).all()]
    return found[0] if found else None


def check_pixels_follow(sample: Sample, n: int, direction: str) -> None:
    """On frames where object ``n`` is whole and unhidden, its centroid moves ``direction``."""
    axis, sign = AXES[direction]
    whole = [t for t, m in enumerate(sample.masks[n]) if m.sum() == sample.objects[n].area]
    centres = [np.nonzero(sample.masks[n, t])[1 - axis].mean() * sign for t in whole]
    assert all(b >= a for a, b in itertools.pairwise(centres))


def first_seen(sample: Sample) -> np.ndarray:
    return sample.masks.any(axis=(2, 3)).argmax(axis=1)


def unique(ids: list[int]) -> int:
    assert len(ids) == 1, f"description fits {len(ids)} objects"
    return ids[0]


def winner(values: dict[int, float], margin: float, *, largest: bool) -> int:
    """The id whose value beats every other one by ``margin``."""
    ranked = sorted(values, key=values.__getitem__, reverse=largest)
    best, runner = values[ranked[0]], values[ranked[1]]
    assert (best >= margin * runner) if largest else (runner >= margin * best)
    return ranked[0]


def resolve(phrase: str, sample: Sample) -> int:
    """The one object ``phrase`` describes; fails if it fits none, several, or not clearly."""
    objs, ids = sample.objects, range(len(sample.objects))
    if m := re.fullmatch(r"the (\w+) (\w+)", phrase):
        colour, shape = m.groups()
        if colour in COLOURS and shape in SHAPES:
            return unique([n for n in ids if (objs[n].colour, objs[n].shape) == (colour, shape)])
        if colour in COLOURS and shape == "object":
            return unique([n for n in ids if objs[n].colour == colour])
    if (m := re.fullmatch(r"the (\w+)", phrase)) and m.group(1) in SHAPES:
        return unique([n for n in ids if objs[n].shape == m.group(1)])
    if m := re.fullmatch(
        r"the object (?:that moves to the |that moves |moving )(left|right|up|down)", phrase
    ):
        target = unique([n for n in ids if moves(sample, n, m.group(1), 2.0).all()])
        others = [n for n in ids if n != target]
        assert not any(moves(sample, n, m.group(1), 0.5).any() for n in others)
        check_pixels_follow(sample, target, m.group(1))
        return target
    if phrase in ("the object that does not move", "the object that stays still"):
        return unique([n for n in ids if objs[n].velocity == (0.0, 0.0)])
    if phrase in ("the object that enters the scene last", "the last object to enter the scene"):
        first = first_seen(sample)
        target = int(np.argmax(first))
        margin = max(2, sample.masks.shape[1] // 8)
        assert all(first[target] - first[n] >= margin for n in ids if n != target)
        before = sample.masks[target, : first[target]]
        assert first[target] > 0 and not before.any()
        return target
    if phrase in ("the fastest object", "the object that moves fastest"):
        return winner({n: objs[n].speed for n in ids if objs[n].speed > 0}, 1.5, largest=True)
    if phrase == "the slowest of the moving objects":
        return winner({n: objs[n].speed for n in ids if objs[n].speed > 0}, 1.5, largest=False)
    if m := re.fullmatch(r"the (largest|smallest) (.+)", phrase):
        adjective, noun = m.groups()
        group = [
            n
            for n in ids
            if noun == "object" or noun == objs[n].shape or noun == f"{objs[n].colour} object"
        ]
        assert len(group) >= 2
        areas = {n: float(objs[n].area) for n in group}
        return winner(areas, 1.3, largest=adjective == "largest")
    raise AssertionError(f"unknown description {phrase!r}")


def segmented(turn: Turn, sample: Sample) -> int:
    """Check a single-object segmentation turn and return the object its question names."""
    m = SEGMENT.fullmatch(turn.question)
    assert m, turn.question
    assert turn.answer == f"Sure, it is {TRK}."
    target = resolve(m.group("np") or m.group("np2"), sample)
    assert turn.track_objects == (target,)
    return target


def check_text_about_object(turn: Turn, sample: Sample) -> int:
    """Check a text question about one described object; return that object."""
    m = ABOUT.fullmatch(turn.question)
    assert m, turn.question
    groups = {k: v for k, v in m.groupdict().items() if v}
    ((key, phrase),) = groups.items()
    n = resolve(phrase, sample)
    obj = sample.objects[n]
    if key.startswith("colour"):
        assert turn.answer == f"It is {obj.colour}."
    elif key == "shape":
        assert turn.answer == f"It is a {obj.shape}."
    elif key.startswith("moves"):
        assert turn.answer == ("Yes, it moves." if obj.speed > 0 else "No, it does not move.")
    else:
        direction = clear_direction(sample, n)
        assert direction is not None
        said = {"left": "to the left", "right": "to the right"}.get(direction, direction)
        assert turn.answer == f"It moves {said}."
    assert turn.track_objects == ()
    return n


def check_count(turn: Turn, sample: Sample) -> None:
    m = re.fullmatch(
        r"(?:How many (.+?)(?: are there| are in the video)\?|Count the (.+?)(?: in the video)?\.)",
        turn.question,
    )
    assert m, turn.question
    noun = m.group(1) or m.group(2)
    objs = sample.objects
    if noun == "objects":
        count = len(objs)
    elif noun in PLURALS:
        count = sum(o.shape == PLURALS[noun] for o in objs)
    else:
        colour = noun.removesuffix(" objects")
        assert colour in COLOURS
        count = sum(o.colour == colour for o in objs)
    assert count >= 1
    expected = rf"There (?:is 1 \w+( object)?|are {count} .+)\."
    assert re.fullmatch(expected, turn.answer), (turn.answer, count)
    assert (count == 1) == turn.answer.startswith("There is 1")


def check_rule(turn: Turn, sample: Sample) -> None:
    m = re.fullmatch(r"Rule: an object is (.+?)\. (.+)", turn.question)
    assert m, turn.question
    rule, ask = m.groups()
    assert ask.startswith(("Segment the ", "Please segment the ", "Which object is "))
    assert turn.answer == f"Sure, it is {TRK}."
    objs, ids = sample.objects, range(len(sample.objects))
    (target,) = turn.track_objects
    if r := re.fullmatch(r"dangerous if it is bigger than (the \w+ \w+) and moving", rule):
        ref = resolve(r.group(1), sample)
        for n in ids:
            moving, ratio = objs[n].speed > 0, objs[n].area / objs[ref].area
            if n == target:
                assert moving and ratio >= 1.3
            elif n != ref:
                assert not moving or ratio <= 1 / 1.3
    elif r := re.fullmatch(r"a racer if it moves faster than (the \w+ \w+)", rule):
        ref = resolve(r.group(1), sample)
        for n in ids:
            if n == target:
                assert objs[n].speed > 0 and objs[n].speed >= 1.5 * objs[ref].speed
            elif n != ref:
                assert 1.5 * objs[n].speed <= objs[ref].speed
    elif rule == "rare if no other object has its colour":
        colours = Counter(o.colour for o in objs)
        assert [n for n in ids if colours[objs[n].colour] == 1] == [target]
    elif r := re.fullmatch(r"safe if it does not move and it is not (\w+)", rule):
        safe = [n for n in ids if objs[n].speed == 0 and objs[n].colour != r.group(1)]
        assert safe == [target]
    else:
        raise AssertionError(f"unknown rule {rule!r}")


def check_several(turn: Turn, sample: Sample) -> None:
    objs, ids = sample.objects, range(len(sample.objects))
    q = turn.question
    if m := re.fullmatch(r"(?:Segment all|Segment the) (circles|squares|triangles|stars)\.", q):
        group = [n for n in ids if objs[n].shape == PLURALS[m.group(1)]]
    elif m := re.fullmatch(r"Please segment every (circle|square|triangle|star)\.", q):
        group = [n for n in ids if objs[n].shape == m.group(1)]
    elif q in ("Segment all objects that do not move.", "Please segment every static object."):
        group = [n for n in ids if objs[n].speed == 0]
    elif q in ("Segment all moving objects.", "Please segment every moving object."):
        group = [n for n in ids if objs[n].speed > 0]
    elif m := re.fullmatch(r"(?:Segment all|Please segment every|Segment the) (\w+) objects?\.", q):
        group = [n for n in ids if objs[n].colour == m.group(1)]
    else:
        raise AssertionError(f"unknown group question {q!r}")
    assert sorted(turn.track_objects) == group and 2 <= len(group) <= 3
    expected = {2: f"{TRK} and {TRK}", 3: f"{TRK}, {TRK} and {TRK}"}[len(group)]
    assert turn.answer == f"Sure, they are {expected}."
    # Canonical order: left to right on the first frame where all of them are visible.
    t = int(np.flatnonzero(sample.masks[group].any(axis=(2, 3)).all(axis=0))[0])
    xs = [np.nonzero(sample.masks[n, t])[1].mean() for n in turn.track_objects]
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(xs))


def test_each_kind_yields_one_turn_except_multi_turn(samples):
    for kind, batch in samples.items():
        for sample in batch:
            assert sample.kind == kind
            assert len(sample.turns) == (2 if kind == "multi_turn" else 1)
            for turn in sample.turns:
                assert turn.answer.count(TRK) == len(turn.track_objects)


@pytest.mark.parametrize("kind", ["attribute", "motion", "comparison"])
def test_single_object_questions_name_exactly_the_tracked_object(samples, kind):
    for sample in samples[kind]:
        segmented(sample.turns[0], sample)


def test_every_subtype_is_asked(samples):
    motion = " ".join(s.turns[0].question for s in samples["motion"])
    assert re.search(r"moves (to the )?(left|right|up|down)|moving (left|right|up|down)", motion)
    assert re.search("does not move|stays still", motion) and re.search("enters? the scene", motion)
    comparison = " ".join(s.turns[0].question for s in samples["comparison"])
    assert re.search("fastest|slowest", comparison) and re.search("largest|smallest", comparison)
    rules = " ".join(s.turns[0].question for s in samples["rule"])
    assert all(f"is {name}" in rules for name in ("dangerous", "a racer", "rare", "safe"))


def test_rule_answers_satisfy_the_rule(samples):
    for sample in samples["rule"]:
        check_rule(sample.turns[0], sample)


def test_several_objects_are_all_tracked_in_canonical_order(samples):
    for sample in samples["several"]:
        check_several(sample.turns[0], sample)


def test_text_answers_are_true(samples):
    for sample in samples["text"]:
        (turn,) = sample.turns
        if ABOUT.fullmatch(turn.question):
            check_text_about_object(turn, sample)
        else:
            check_count(turn, sample)


def test_multi_turn_segments_the_object_of_the_first_answer(samples):
    for sample in samples["multi_turn"]:
        first, follow_up = sample.turns
        n = check_text_about_object(first, sample)
        assert follow_up.question in (
            "Segment it.",
            "Now segment it.",
            "Please segment that object.",
        )
        assert follow_up.answer == f"Sure, it is {TRK}." and follow_up.track_objects == (n,)


def test_phrasings_vary_within_a_kind(samples):
    for kind in ("attribute", "rule", "several", "text"):
        openings = {s.turns[-1].question.split(" the ")[0] for s in samples[kind]}
        assert len(openings) >= 2, kind


def test_turn_rejects_a_track_count_that_does_not_match():
    with pytest.raises(ValueError, match="track objects"):
        Turn("Segment the red circle.", f"Sure, it is {TRK}.", ())


def test_unknown_kind_is_rejected_with_the_allowed_ones():
    with pytest.raises(ConfigError, match="attribute, motion"):
        generate_sample(np.random.default_rng(0), "colour", CONFIG)
    with pytest.raises(ConfigError, match="Use one or more"):
        iter_samples(0, [], CONFIG)


def test_stream_is_deterministic_and_cycles_kinds():
    kinds = ["text", "several"]
    first = list(itertools.islice(iter_samples(4, kinds, CONFIG), 4))
    again = list(itertools.islice(iter_samples(4, kinds, CONFIG), 4))
    assert [s.kind for s in first] == ["text", "several", "text", "several"]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.frames, b.frames)
        assert (a.objects, a.turns, a.video_id) == (b.objects, b.turns, b.video_id)


def test_held_out_sets_are_fixed_and_disjoint_from_training():
    held_out = held_out_set("attribute", 5, CONFIG)
    assert [s.video_id for s in held_out] == [f"test_attribute_{i:05d}" for i in range(5)]
    again = held_out_set("attribute", 5, CONFIG)
    assert [s.objects for s in held_out] == [s.objects for s in again]
    other_kind = held_out_set("text", 5, CONFIG)
    training = [
        s.objects
        for seed in (0, 1, 2)
        for s in itertools.islice(iter_samples(seed, ["attribute"], CONFIG), 10)
    ]
    held = [s.objects for s in held_out]
    assert not set(held) & set(training)
    assert not set(held) & {s.objects for s in other_kind}
