"""A video encoded once: sampled frames, CLIP video tokens and SAM embeddings of every frame.

Every later question on the same video reuses this state and costs only the LLM and the mask
decoder (SAM 2's ``init_state`` idea).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from videolisa.inference.preprocess import FramePreprocessor
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.sampling import FrameSampling

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class EncodedVideo:
    """Everything the model needs of a video, computed once."""

    sampling: FrameSampling
    video_tokens: torch.Tensor  # (S + D * L, H) Sparse-Dense tokens for the LLM
    sam_embeddings: torch.Tensor  # (T, C, e, e) SAM image embeddings of every frame
    resized_hw: tuple[int, int]  # frame size inside SAM's padded input
    original_hw: tuple[int, int]  # (H, W) of the frames
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage

    @property
    def num_frames(self) -> int:
        return int(self.sam_embeddings.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the tensors (for cache accounting)."""
        return sum(t.numel() * t.element_size() for t in (self.video_tokens, self.sam_embeddings))


@torch.inference_mode()
def encode_video(
    model: VideoLISAModel,
    preprocessor: FramePreprocessor,
    frames: np.ndarray,
    sampling: FrameSampling,
    sam_batch: int = 8,
    progress: ProgressCallback | None = None,
) -> EncodedVideo:
    """Encode (T, H, W, 3) uint8 RGB frames: CLIP on the sparse frames, SAM on all of them in
    batches of ``sam_batch`` frames."""
    seconds: dict[str, float] = {}
    device = model.device
    start = time.perf_counter()
    pixels = preprocessor.clip_pixels(frames[list(sampling.sparse)]).to(device)
    features = model.clip_patch_features(pixels)
    video_tokens = model.video_tokens(features, sampling.dense)
    seconds["clip_encode"] = time.perf_counter() - start

    start = time.perf_counter()
    total = len(frames)
    chunks: list[torch.Tensor] = []
    resized_hw = (0, 0)
    for begin in range(0, total, sam_batch):
        resized = preprocessor.sam_resized(frames[begin : begin + sam_batch])
        resized_hw = (int(resized.shape[2]), int(resized.shape[3]))
        images = model.sam.preprocess(resized.to(device, torch.float32))
        chunks.append(model.sam_image_embeddings(images))
        if progress:
            progress("sam_encode", min(begin + sam_batch, total), total)
    seconds["sam_encode"] = time.perf_counter() - start
    return EncodedVideo(
        sampling=sampling,
        video_tokens=video_tokens,
        sam_embeddings=torch.cat(chunks),
        resized_hw=resized_hw,
        original_hw=(int(frames.shape[1]), int(frames.shape[2])),
        seconds=seconds,
    )
