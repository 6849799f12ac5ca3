"""Objects, motion, occlusion and rendering of the toy world."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from videolisa.errors import ConfigError
from videolisa.toyworld import COLOURS, SHAPES, WorldConfig, generate_sample
from videolisa.toyworld.world import (
    ObjectSpec,
    build_scene,
    render_frames,
    sample_scene,
    shape_template,
    trajectory,
)

SMALL = WorldConfig(min_frames=8, max_frames=16, min_size=64, max_size=80)
CLEAN = WorldConfig(
    min_frames=8, max_frames=16, max_size=96, background="dark", brightness_jitter=0.0
)


def square(
    obj_id: int,
    start: tuple[float, float],
    velocity: tuple[float, float] = (0.0, 0.0),
    *,
    depth: int = 0,
    bounces: bool = False,
    size: int = 16,
    shape: str = "square",
    colour: str = "red",
) -> ObjectSpec:
    return ObjectSpec(obj_id, shape, colour, size, start, velocity, depth, bounces)


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("background", "foggy", "dark, noisy, mixed"),
        ("min_size", 32, "64 <= min_size"),
        ("max_frames", 4, "min_frames <= max_frames"),
        ("static_prob", 1.5, "[0, 1]"),
        ("max_object_frac", 0.9, "max_object_frac <="),
    ],
)
def test_config_rejects_bad_values_and_names_the_allowed_ones(field, value, hint):
    with pytest.raises(ConfigError, match="Use") as error:
        WorldConfig(**{field: value})
    assert hint in str(error.value)


def test_object_spec_rejects_unknown_shape_and_colour():
    with pytest.raises(ConfigError, match="circle, square, triangle, star"):
        square(0, (10.0, 10.0), shape="hexagon")
    with pytest.raises(ConfigError, match="red, green, blue, yellow, white, purple"):
        square(0, (10.0, 10.0), colour="orange")


def test_same_seed_gives_identical_samples_and_another_seed_does_not():
    first = generate_sample(np.random.default_rng(7), "attribute", SMALL)
    again = generate_sample(np.random.default_rng(7), "attribute", SMALL)
    other = generate_sample(np.random.default_rng(8), "attribute", SMALL)
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.masks, again.masks)
    assert (first.objects, first.turns, first.video_id) == (
        again.objects,
        again.turns,
        again.video_id,
    )
    assert first.objects != other.objects


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_templates_are_mirror_symmetric_and_sized(shape):
    size = 21
    template = shape_template(shape, size)
    assert template.shape == (size, size)
    np.testing.assert_array_equal(template, template[:, ::-1])
    rows, cols = np.nonzero(template)
    assert cols.min() <= 1 and cols.max() >= size - 2  # spans the box horizontally
    assert rows.max() == size - 1 or shape == "star"


def test_shape_areas_match_geometry():
    size = 40
    assert shape_template("square", size).sum() == size * size
    assert shape_template("circle", size).sum() == pytest.approx(math.pi * 20**2, rel=0.03)
    assert shape_template("triangle", size).sum() == pytest.approx(size * size / 2, rel=0.05)
    star = 5 * 20 * 9 * math.sin(math.pi / 5)  # 10 triangles between outer 20 and inner 9 radii
    assert shape_template("star", size).sum() == pytest.approx(star, rel=0.05)


def test_sampled_scenes_respect_the_config():
    config = WorldConfig(min_frames=10, max_frames=12, min_size=64, max_size=72, max_objects=4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        scene = sample_scene(rng, config)
        assert 10 <= scene.num_frames <= 12
        assert 64 <= scene.height <= 72 and 64 <= scene.width <= 72
        assert 2 <= len(scene.objects) <= 4
        side = min(scene.height, scene.width)
        for obj in scene.objects:
            assert max(8, 0.08 * side - 0.5) <= obj.size <= 0.25 * side + 0.5
            assert obj.speed == 0 or 0.01 * side <= obj.speed <= 0.05 * side + 1e-9
        assert sorted(o.depth for o in scene.objects) == list(range(len(scene.objects)))


def test_every_sampled_object_is_well_visible_on_some_frames():
    rng = np.random.default_rng(1)
    for _ in range(20):
        scene = sample_scene(rng, SMALL)
        for obj, masks in zip(scene.objects, scene.masks, strict=True):
            shown = masks.sum(axis=(1, 2)) >= 0.5 * obj.area
            assert shown.sum() >= 2


def test_colours_are_exact_inside_objects_on_a_dark_background():
    rng = np.random.default_rng(2)
    for _ in range(10):
        scene = sample_scene(rng, CLEAN)
        frames = render_frames(rng, scene, CLEAN)
        assert frames.shape == (scene.num_frames, scene.height, scene.width, 3)
        assert frames.dtype == np.uint8
        for obj, mask in zip(scene.objects, scene.masks, strict=True):
            assert (frames[mask] == COLOURS[obj.colour]).all()
        background = frames[~scene.masks.any(axis=0)]
        assert background.max() <= 50  # dark
        assert len(np.unique(background, axis=0)) == 1  # flat


def test_noisy_background_varies_but_objects_stay_exact():
    config = WorldConfig(max_frames=10, background="noisy", brightness_jitter=0.0)
    rng = np.random.default_rng(3)
    scene = sample_scene(rng, config)
    frames = render_frames(rng, scene, config)
    background = frames[~scene.masks.any(axis=0)].astype(float)
    assert 5 < background.std() < 20
    for obj, mask in zip(scene.objects, scene.masks, strict=True):
        assert (frames[mask] == COLOURS[obj.colour]).all()


def test_masks_are_the_visible_pixels_of_overlapping_objects():
    front = square(0, (30.0, 30.0), depth=0, colour="blue")
    back = square(1, (38.0, 34.0), depth=1, colour="yellow", size=20)
    scene = build_scene((front, back), num_frames=3, height=64, width=64)
    feet = scene.footprints
    assert feet[0, 0].sum() == 16 * 16 and feet[1, 0].sum() == 20 * 20
    assert (feet[0] & feet[1]).any()  # they do overlap
    np.testing.assert_array_equal(scene.masks[0], feet[0])
    np.testing.assert_array_equal(scene.masks[1], feet[1] & ~feet[0])
    frames = render_frames(np.random.default_rng(0), scene, CLEAN)
    overlap = feet[0] & feet[1]
    assert (frames[overlap] == COLOURS["blue"]).all()


def test_masks_of_random_scenes_partition_the_painted_pixels():
    rng = np.random.default_rng(4)
    for _ in range(10):
        scene = sample_scene(rng, SMALL)
        assert scene.masks.sum(axis=0).max() <= 1  # disjoint
        assert not (scene.masks & ~scene.footprints).any()
        np.testing.assert_array_equal(scene.masks.any(axis=0), scene.footprints.any(axis=0))


def test_a_bouncing_object_stays_inside_and_turns_back():
    obj = square(0, (30.0, 20.0), (6.0, 1.0), bounces=True)
    positions = trajectory(obj, 30, 48, 64)
    assert positions[:, 0].min() >= 8 and positions[:, 0].max() <= 64 - 8
    steps = np.diff(positions[:, 0])
    assert (steps[:2] > 0).all() and (steps < 0).any()  # goes right, then comes back
    assert np.abs(np.diff(positions, axis=0)).max() <= 6.0 + 1e-9
    scene = build_scene((obj,), 30, 48, 64)
    assert (scene.masks.sum(axis=(2, 3)) == 16 * 16).all()  # never clipped by a border
    xs = [np.nonzero(m)[1].mean() for m in scene.masks[0]]
    assert np.argmax(xs) not in (0, len(xs) - 1)


def test_passing_objects_enter_and_leave_with_empty_masks_outside():
    entering = square(0, (-30.0, 30.0), (4.0, 0.0))
    leaving = square(1, (50.0, 10.0), (4.0, 0.0), depth=1)
    scene = build_scene((entering, leaving), 20, 64, 64)
    shown = scene.masks.sum(axis=(2, 3))
    first = int(np.argmax(shown[0] > 0))
    assert first > 0 and (shown[0, :first] == 0).all() and (shown[0, first:15] > 0).all()
    last = int(np.flatnonzero(shown[1])[-1])
    assert last < 19 and (shown[1, last + 1 :] == 0).all()


def test_generation_is_fast_enough_for_training_on_a_cpu():
    config = WorldConfig(min_frames=32, max_frames=32, min_size=128, max_size=128)
    rng = np.random.default_rng(5)
    generate_sample(rng, "text", config)  # warm the template cache
    start = time.perf_counter()
    for kind in ("attribute", "motion", "several", "rule"):
        sample = generate_sample(rng, kind, config)
        assert sample.frames.shape == (32, 128, 128, 3)
    assert (time.perf_counter() - start) / 4 < 0.1
