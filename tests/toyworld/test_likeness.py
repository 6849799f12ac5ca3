"""Telling toy-world videos from others, for the bundled model's notice."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.media import encode_video, square_frames
from videolisa.toyworld import KINDS, WorldConfig, iter_samples
from videolisa.toyworld.likeness import looks_like_toy_world
from videolisa.video import read_video

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_toy_world_videos_look_like_it():
    config = WorldConfig(min_frames=8, max_frames=12, min_size=64, max_size=200)
    for sample in itertools.islice(iter_samples(5, KINDS, config), 40):
        assert looks_like_toy_world(sample.frames), sample.kind


@pytest.mark.parametrize("name", ["shapes.mp4", "several.mp4", "racer.mp4"])
def test_the_example_videos_look_like_it_after_h264(name):
    assert looks_like_toy_world(read_video(PROJECT_ROOT / "assets" / "examples" / name).frames)


def test_other_videos_do_not(tmp_path):
    rng = np.random.default_rng(0)
    # a photo-like frame: smooth mid-tone gradients with texture
    y, x = np.mgrid[:120, :160]
    photo = np.stack([80 + y // 2, 60 + x // 3, 120 + (x + y) // 6], axis=-1)
    photo = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    assert not looks_like_toy_world(photo[None])
    # a grey scene with a red square, through H.264
    grey = encode_video(tmp_path / "grey.mp4", square_frames(8, 48, 64))
    assert not looks_like_toy_world(read_video(grey).frames)
    # a dark natural scene: mostly black, its lit pixels dim and unsaturated
    dark = np.zeros((4, 60, 80, 3), dtype=np.uint8)
    dark[:, 20:40, 20:60] = rng.integers(60, 140, size=(4, 20, 40, 3))
    assert not looks_like_toy_world(dark)
