"""SAM embeddings under a memory budget: same masks, bounded store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from videolisa.inference.encoded_video import EncodeSettings, sam_frame_nbytes
from videolisa.inference.sam_store import SamMemoryPlan

FORCED = "Sure, [SEG]."
QUESTION = "Please segment the moving red square in this image."


@pytest.fixture(scope="module")
def golden_frames(golden_dir) -> np.ndarray:
    return load_file(str(golden_dir / "golden.safetensors"))["video_rgb_uint8"].numpy()


def _long_video(frames: np.ndarray, repeats: int) -> np.ndarray:
    """The golden clip played forwards and backwards ``repeats`` times."""
    loop = np.concatenate([frames, frames[::-1]])
    return np.ascontiguousarray(np.concatenate([loop] * repeats))


@pytest.mark.slow
@pytest.mark.parametrize("budget_frames", [1, 3, 10])
def test_budgeted_masks_equal_unbudgeted(golden_pipeline, golden_frames, budget_frames):
    frames = _long_video(golden_frames, 2)  # 24 frames
    frame_nbytes = sam_frame_nbytes(golden_pipeline.model)
    full = golden_pipeline.encode(frames, EncodeSettings(4, 2, sam_batch=4))
    small = golden_pipeline.encode(
        frames,
        EncodeSettings(4, 2, sam_batch=4, sam_memory_budget_bytes=budget_frames * frame_nbytes),
    )
    assert small.sam.plan.kept_frames < len(frames) == full.sam.plan.kept_frames
    answer = golden_pipeline.answer(full, [], QUESTION, forced_answer=FORCED)
    tracks = torch.cat([answer.track_embeddings, answer.track_embeddings.flip(-1)])
    expected = golden_pipeline.track_masks(full, tracks, decode_batch=3)
    actual = golden_pipeline.track_masks(small, tracks, decode_batch=3)
    assert expected.any() and np.array_equal(actual, expected)
    for window in (slice(0, 5), slice(7, 19), slice(None)):
        budgeted = golden_pipeline.mask_logits(small, small.sam.get(window), tracks[0])
        unbudgeted = golden_pipeline.mask_logits(full, full.sam.get(window), tracks[0])
        assert torch.allclose(budgeted, unbudgeted, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_store_peak_is_bounded_by_budget(golden_pipeline, golden_frames):
    frame_nbytes = sam_frame_nbytes(golden_pipeline.model)
    budget = 6 * frame_nbytes
    peaks = []
    for repeats in (2, 8):  # 24 and 96 frames, both far beyond the budget
        frames = _long_video(golden_frames, repeats)
        encoded = golden_pipeline.encode(
            frames, EncodeSettings(4, 2, sam_memory_budget_bytes=budget)
        )
        answer = golden_pipeline.answer(encoded, [], QUESTION, forced_answer=FORCED)
        golden_pipeline.track_masks(encoded, answer.track_embeddings)
        assert encoded.sam.nbytes <= encoded.sam.peak_nbytes <= budget
        peaks.append(encoded.sam.peak_nbytes)
    assert peaks[0] == peaks[1]  # independent of the video's length


def test_everything_is_kept_while_it_fits():
    plan = SamMemoryPlan.for_video(20, 1000, 8, budget_bytes=28_000)
    assert (plan.kept_frames, plan.chunk_frames, plan.streams) == (20, 8, False)
    plan = SamMemoryPlan.for_video(21, 1000, 8, budget_bytes=28_000)
    assert (plan.kept_frames, plan.chunk_frames, plan.streams) == (16, 8, True)
    plan = SamMemoryPlan.for_video(100, 1000, 8, budget_bytes=5_000)
    assert plan.kept_frames + plan.chunk_frames <= 5 and plan.chunk_frames >= 1
    assert SamMemoryPlan.for_video(100, 1000, 8, None).kept_frames == 100
