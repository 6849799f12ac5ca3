"""Masks always come back at the frame's original size, whatever that size is.

(The frame-sampling properties, every index in range, sorted and counted as asked, are in
``tests/test_sampling.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from videolisa.chat.service import FORCED_ANSWER
from videolisa.inference.encoded_video import EncodeSettings

sides = st.integers(1, 1500)


@settings(max_examples=40, deadline=None)
@given(height=sides, width=sides, frames=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_upscaled_masks_have_the_original_size(golden_pipeline, height, width, frames, seed):
    model = golden_pipeline.model
    target = golden_pipeline.preprocessor.sam_resize.target_length
    resized = golden_pipeline.preprocessor.sam_resize.get_preprocess_shape(height, width, target)
    low_res_side = model.sam.prompt_encoder.mask_input_size[0]
    generator = torch.Generator().manual_seed(seed)
    low_res = torch.randn(frames, 1, low_res_side, low_res_side, generator=generator)
    masks = model.upscale_masks(low_res, resized, (height, width))
    assert masks.shape == (frames, height, width)


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(height=st.integers(1, 90), width=st.integers(1, 90), frames=st.integers(1, 5))
@example(height=1, width=257, frames=2)  # rounds to 0 rows at SAM's size: crashed once
@example(height=3, width=3, frames=1)  # looked like channels-first to the CLIP processor
def test_track_masks_have_the_frame_size(golden_pipeline, height, width, frames):
    rng = np.random.default_rng(height * 1000 + width)
    video = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    encoded = golden_pipeline.encode(video, EncodeSettings(4, 1))
    answer = golden_pipeline.answer(encoded, [], "Where is it?", forced_answer=FORCED_ANSWER)
    masks = golden_pipeline.track_masks(encoded, answer.track_embeddings)
    assert masks.shape == (1, frames, height, width) and masks.dtype == bool
