"""Per-object facts agree with the questions the toy world asks."""

from __future__ import annotations

import itertools

import numpy as np

from videolisa.toyworld import WorldConfig, iter_samples
from videolisa.toyworld.facts import FACT_CLASSES, MOTIONS, object_facts, scene_of
from videolisa.toyworld.world import ObjectSpec, build_scene

CONFIG = WorldConfig(min_frames=8, max_frames=24, min_size=64, max_size=96)


def _object(obj_id, colour, shape, size, start, velocity) -> ObjectSpec:
    return ObjectSpec(obj_id, shape, colour, size, start, velocity, obj_id, False)


def test_facts_of_a_scene_built_by_hand():
    objects = (
        _object(0, "red", "square", 20, (30.0, 30.0), (0.0, 0.0)),  # static, largest
        _object(1, "red", "circle", 10, (80.0, 30.0), (-2.0, 0.0)),  # left, fastest
        _object(2, "blue", "square", 12, (50.0, 70.0), (0.0, 1.0)),  # down
    )
    facts = object_facts(build_scene(objects, 10, 100, 120))
    assert [MOTIONS[m] for m in facts.motion] == ["static", "left", "down"]
    assert facts.speed_rank.tolist() == [5, 0, 1]
    assert facts.size_rank.tolist() == [0, 2, 1]
    assert facts.size_rank_in_colour.tolist() == [0, 1, 0]
    assert facts.size_rank_in_shape.tolist() == [0, 0, 1]
    assert facts.colour_count.tolist() == [1, 1, 0]  # two reds, one blue (minus 1)
    assert facts.shape_count.tolist() == [1, 0, 1]
    assert facts.object_count.tolist() == [2, 2, 2]
    assert facts.first_seen_rank.tolist() == [0, 0, 0]


def test_labels_fit_their_classes_and_the_scene_is_the_samples():
    stream = iter_samples(3, ["motion", "comparison", "several"], CONFIG)
    for _ in range(12):
        sample = next(stream)
        scene = scene_of(sample.objects, sample.masks)
        assert np.array_equal(scene.masks, sample.masks)
        for name, labels in object_facts(scene).as_dict().items():
            assert labels.shape == (len(sample.objects),)
            assert labels.min() >= 0 and labels.max() < FACT_CLASSES[name], name


def test_the_object_a_direction_question_points_at_moves_that_way():
    checked = 0
    for sample in itertools.islice(iter_samples(4, ["motion"], CONFIG), 60):
        turn = sample.turns[0]
        words = [
            w
            for w in ("left", "right", "up", "down")
            if f"moves {w}" in turn.question
            or f"moves to the {w}" in turn.question
            or f"moving {w}" in turn.question
        ]
        if words:
            facts = object_facts(scene_of(sample.objects, sample.masks))
            assert MOTIONS[facts.motion[turn.track_objects[0]]] == words[0], turn.question
            checked += 1
    assert checked >= 5
