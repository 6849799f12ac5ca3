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


class FramePreprocessor:
    """Turns (N, H, W, 3) uint8 RGB frames into encoder inputs."""

    def __init__(self, vision_tower_folder: str | Path, sam_img_size: int) -> None:
        self.clip_processor = CLIPImageProcessorPil.from_pretrained(str(vision_tower_folder))
        self.sam_resize = ResizeLongestSide(sam_img_size)

    def clip_pixels(self, frames: np.ndarray) -> torch.Tensor:
        """(S, H, W, 3) uint8 -> (S, 3, P, P) float32 normalised CLIP input."""
        batch = self.clip_processor(images=list(frames), return_tensors="pt")
        return batch["pixel_values"]

    def sam_resized(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, h, w) uint8, longest side resized to SAM's input size.
        Normalising and padding happen in :meth:`Sam.preprocess`, chunk by chunk."""
        resized = np.stack([self.sam_resize.apply_image(frame) for frame in frames])
        return torch.from_numpy(resized).permute(0, 3, 1, 2)
