"""The published checkpoint itself: needs its weights (and, for the 4-bit case, a GPU).

Set VIDEOLISA_REAL_CHECKPOINT to a local copy of ZechenBai/VideoLISA-3.8B and
VIDEOLISA_REAL_CLIP to openai/clip-vit-large-patch14-336 to run these.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from videolisa.inference.encoded_video import EncodeSettings

CHECKPOINT = os.environ.get("VIDEOLISA_REAL_CHECKPOINT")
CLIP = os.environ.get("VIDEOLISA_REAL_CLIP")
needs_weights = pytest.mark.skipif(
    not (CHECKPOINT and CLIP), reason="set VIDEOLISA_REAL_CHECKPOINT and VIDEOLISA_REAL_CLIP"
)
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _moving_square(frames: int = 8) -> np.ndarray:
    video = np.full((frames, 240, 320, 3), 30, dtype=np.uint8)
    for t in range(frames):
        video[t, 100:140, 20 + 30 * t : 60 + 30 * t] = (220, 40, 40)
    return video


def _segment(pipeline) -> np.ndarray:
    encoded = pipeline.encode(_moving_square(), EncodeSettings(8, 2))
    answer = pipeline.answer(
        encoded, [], "Please segment the red square in this image.", forced_answer="Sure, <TRK>."
    )
    return pipeline.track_masks(encoded, answer.track_embeddings)


@pytest.mark.real_weights
@needs_weights
def test_published_checkpoint_segments_a_red_square():
    from videolisa.inference.pipeline import VideoLISAPipeline

    pipeline = VideoLISAPipeline.from_pretrained(CHECKPOINT, vision_tower=CLIP)
    assert pipeline.tokenizer.track_token == "[SEG]"
    masks = _segment(pipeline)
    assert masks.shape == (1, 8, 240, 320)
    assert masks[0, :, 100:140].any()


@pytest.mark.real_weights
@pytest.mark.gpu
@needs_weights
@needs_gpu
def test_published_checkpoint_in_4bit_on_one_gpu():
    from videolisa.inference.pipeline import VideoLISAPipeline

    pipeline = VideoLISAPipeline.from_pretrained(
        CHECKPOINT, vision_tower=CLIP, device="cuda", quantization="4bit"
    )
    masks = _segment(pipeline)
    assert masks[0, :, 100:140].any()
    assert torch.cuda.max_memory_allocated() < 8 * 1024**3
