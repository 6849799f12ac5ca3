"""Frames to model inputs: CLIP pixels for the sparse frames, SAM pixels for every frame.

Both follow the published implementation, which the golden record checks: CLIP frames through
the PIL ``CLIPImageProcessor`` (transformers 5's default torchvision one resamples differently;
golden fact 2), SAM frames through segment-anything's ``ResizeLongestSide`` (PIL bilinear).
Frames stay uint8 until an encoder needs them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from segment_anything.utils.transforms import ResizeLongestSide
from transformers import CLIPImageProcessorPil


class SafeResizeLongestSide(ResizeLongestSide):
    """segment-anything's resize to SAM's input size S, except that no side rounds down to 0
    pixels (which crashes the resize): the short side of a frame more than 2·S times as long
    as it is wide (a 1×2049 strip for S = 1024) becomes 1 pixel instead."""

    @staticmethod
    def get_preprocess_shape(oldh: int, oldw: int, long_side_length: int) -> tuple[int, int]:
        newh, neww = ResizeLongestSide.get_preprocess_shape(oldh, oldw, long_side_length)
        return max(newh, 1), max(neww, 1)


class FramePreprocessor:
    """Turns (N, H, W, 3) uint8 RGB frames into encoder inputs."""

    def __init__(self, vision_tower_folder: str | Path, sam_img_size: int) -> None:
        self.clip_processor = CLIPImageProcessorPil.from_pretrained(str(vision_tower_folder))
        self.sam_resize = SafeResizeLongestSide(sam_img_size)

    def clip_pixels(self, frames: np.ndarray) -> torch.Tensor:
        """(S, H, W, 3) uint8 -> (S, 3, P, P) float32 normalised CLIP input."""
        # Said, not guessed: a frame 1 or 3 pixels high would pass for channels-first.
        batch = self.clip_processor(
            images=list(frames), return_tensors="pt", input_data_format="channels_last"
        )
        return batch["pixel_values"]

    def sam_resized(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, h, w) uint8, longest side resized to SAM's input size.
        Normalising and padding happen in :meth:`Sam.preprocess`, chunk by chunk."""
        resized = np.stack([self.sam_resize.apply_image(frame) for frame in frames])
        return torch.from_numpy(resized).permute(0, 3, 1, 2)
