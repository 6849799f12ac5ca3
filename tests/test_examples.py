"""The app's examples (`prompts/examples.json`, `assets/examples/`): each question is the toy
world's own question about its video, and the ones flagged as answered by the bundled model are
answered right by it on the very video the app sends (decoded from the mp4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scripts.make_example_videos import (
    MAX_SEEDS,
    OUT_DIR,
    PROMPTS_FILE,
    SLOTS,
    answered_right,
    find_sample,
)
from videolisa.defaults import DEFAULT_MODEL
from videolisa.video import read_video

ENTRIES = json.loads(PROMPTS_FILE.read_text())
SLOT_OF = {f"{slot.stem}.mp4": slot for slot in SLOTS}


def _sample_and_frames(entry: dict) -> tuple:
    slot = SLOT_OF[entry["video"]]
    _, sample = find_sample(slot.kind, entry["prompt"], range(slot.seed, slot.seed + MAX_SEEDS))
    return sample, read_video(OUT_DIR / entry["video"]).frames


def test_every_example_has_a_slot_and_a_flag():
    assert [entry["video"] for entry in ENTRIES] == list(SLOT_OF)
    assert all(isinstance(entry["toy_model_answers"], bool) for entry in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["video"] for e in ENTRIES])
def test_the_question_is_asked_about_its_own_video(entry):
    sample, frames = _sample_and_frames(entry)
    assert sample.turns[0].question == entry["prompt"]
    assert frames.shape == sample.frames.shape
    # H.264 changes pixel values a little, not which video it is
    assert np.abs(frames.astype(int) - sample.frames).mean() < 4


@pytest.mark.slow
@pytest.mark.skipif(not Path(DEFAULT_MODEL).is_dir(), reason="bundled model not present")
@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e["toy_model_answers"]],
    ids=[e["video"] for e in ENTRIES if e["toy_model_answers"]],
)
def test_flagged_examples_are_answered_right_by_the_bundled_model(entry):
    from videolisa.inference.pipeline import VideoLISAPipeline

    pipeline = VideoLISAPipeline.from_pretrained(DEFAULT_MODEL, device="cpu")
    sample, frames = _sample_and_frames(entry)
    assert answered_right(pipeline, frames, sample)
