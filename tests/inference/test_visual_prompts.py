"""Clicks and boxes answered by the model's own SAM decoder: a click at an object's centre gives
that object with the bundled model, a negative click removes what a positive one added, and
what is outside the video is refused with a message."""

from __future__ import annotations

import numpy as np
import pytest

from videolisa import toyworld
from videolisa.errors import ConfigError
from videolisa.evaluation.metrics import region_similarity
from videolisa.inference.visual_prompts import (
    Box,
    Click,
    FramePrompt,
    carried_masks,
    middle_click,
    prompted_mask,
)

VIDEOS = 30  # as scripts/measure_click_carrying.py measures it


@pytest.fixture(scope="module")
def bundled():
    from videolisa.defaults import DEFAULT_MODEL
    from videolisa.inference.pipeline import VideoLISAPipeline

    return VideoLISAPipeline.from_pretrained(DEFAULT_MODEL, device="cpu")


@pytest.mark.slow
def test_a_click_at_an_objects_centre_gives_that_object(bundled):
    scores = []
    for index in range(VIDEOS):
        sample = toyworld.test_sample("attribute", index)
        encoded = bundled.encode(sample.frames)
        frame = len(sample.frames) // 2
        truth = sample.masks[index % len(sample.masks), frame]
        if truth.any():
            prompt = FramePrompt(frame, (middle_click(truth),))
            scores.append(region_similarity(prompted_mask(bundled.model, encoded, prompt), truth))
    assert np.mean(scores) >= 0.8, f"click J {np.mean(scores):.3f} on {len(scores)} videos"


def test_a_negative_click_removes_what_a_positive_one_added(bundled):
    sample = toyworld.test_sample("attribute", 1)
    encoded = bundled.encode(sample.frames)
    frame = len(sample.frames) // 2
    first, second = (middle_click(sample.masks[n, frame]) for n in range(2))
    both = prompted_mask(bundled.model, encoded, FramePrompt(frame, (first, second)))
    only_first = prompted_mask(bundled.model, encoded, FramePrompt(frame, (first,)))
    removed = prompted_mask(
        bundled.model, encoded, FramePrompt(frame, (Click(second.x, second.y, False),)), both
    )
    assert both.sum() > only_first.sum() > 0
    assert not removed[int(second.y), int(second.x)] and removed[int(first.y), int(first.x)]
    assert np.array_equal(removed, only_first)


def test_a_box_adds_what_sam_finds_inside_it(bundled):
    sample = toyworld.test_sample("attribute", 1)
    encoded = bundled.encode(sample.frames)
    frame = len(sample.frames) // 2
    ys, xs = np.nonzero(sample.masks[0, frame])
    box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    mask = prompted_mask(bundled.model, encoded, FramePrompt(frame, box=box))
    outside = np.ones_like(mask)
    outside[int(box.y0) : int(box.y1), int(box.x0) : int(box.x1)] = False
    assert mask.any() and not (mask & outside).any()


@pytest.mark.slow
def test_a_clicked_mask_is_carried_to_every_frame(bundled):
    sample = toyworld.test_sample("attribute", 0)
    encoded = bundled.encode(sample.frames)
    frame = len(sample.frames) // 2
    mask = prompted_mask(
        bundled.model, encoded, FramePrompt(frame, (middle_click(sample.masks[0, frame]),))
    )
    carried = list(carried_masks(bundled.model, encoded, {frame: mask}))
    assert [f for f, _ in carried] == list(range(len(sample.frames)))  # every frame, in order
    assert np.array_equal(dict(carried)[frame], mask)  # the clicked frame keeps its mask
    scores = [region_similarity(m, sample.masks[0, f]) for f, m in carried]
    assert np.mean(scores) > 0.5


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (FramePrompt(9, (Click(1, 1),)), "Frame 9 is not in the video"),
        (FramePrompt(0, (Click(56, 3),)), "outside the frame"),
        (FramePrompt(0, (Click(-1, 3),)), "outside the frame"),
        (FramePrompt(0, box=Box(5, 5, 5, 9)), "has no area"),
        (FramePrompt(0, box=Box(0, 0, 57, 9)), "reaches outside the frame"),
        (FramePrompt(0), "no click and no box"),
    ],
)
def test_what_is_outside_the_video_is_refused_with_a_message(prompt, message):
    with pytest.raises(ConfigError, match=message):
        prompt.check(num_frames=6, height=40, width=56)
