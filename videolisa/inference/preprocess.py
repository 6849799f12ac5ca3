"""Frames to model inputs: CLIP pixels for the sparse frames, SAM pixels for every frame.

Both follow the published implementation, which the golden record checks: CLIP frames as the
PIL ``CLIPImageProcessor`` computes them (transformers 5's default torchvision one resamples
differently; golden fact 2), here batched by :class:`~videolisa.inference.clip_pixels.ClipPixels`
with the same pixels; SAM frames through segment-anything's ``ResizeLongestSide`` (PIL
bilinear). Frames stay uint8 until an encoder needs them.

The per-frame PIL resizes release the GIL, so they run on a thread pool: one thread per
available CPU beyond the first, at most :data:`MAX_WORKERS` (a pool of one thread is no pool).
On this project's 2-vCPU machine, whose two CPUs give 1.1 times the throughput of one, two
threads were no faster than one (docs/performance.md); a GPU host's cores resize in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from segment_anything.utils.transforms import ResizeLongestSide
from transformers import CLIPImageProcessorPil

from videolisa.inference.clip_pixels import ClipPixels

MAX_WORKERS = 8


class SafeResizeLongestSide(ResizeLongestSide):
    """segment-anything's resize to SAM's input size S, except that no side rounds down to 0
    pixels (which crashes the resize): the short side of a frame more than 2·S times as long
    as it is wide (a 1×2049 strip for S = 1024) becomes 1 pixel instead."""

    @staticmethod
    def get_preprocess_shape(oldh: int, oldw: int, long_side_length: int) -> tuple[int, int]:
        newh, neww = ResizeLongestSide.get_preprocess_shape(oldh, oldw, long_side_length)
        return max(newh, 1), max(neww, 1)


def default_workers() -> int:
    """Threads for the per-frame resizes: the CPUs this process may use, less one, at most 8."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) - 1))


class FramePreprocessor:
    """Turns (N, H, W, 3) uint8 RGB frames into encoder inputs."""

    def __init__(
        self, vision_tower_folder: str | Path, sam_img_size: int, workers: int | None = None
    ) -> None:
        self.clip_processor = CLIPImageProcessorPil.from_pretrained(str(vision_tower_folder))
        self.clip = ClipPixels(self.clip_processor)
        self.sam_resize = SafeResizeLongestSide(sam_img_size)
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def clip_pixels(self, frames: np.ndarray, indices: Sequence[int] | None = None) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (S, 3, P, P) float32 normalised CLIP input of
        ``frames[indices]`` (every frame when None; a repeated index is resized once)."""
        order = list(range(len(frames))) if indices is None else list(indices)
        distinct = sorted(set(order))
        pixels = torch.empty((len(distinct), 3, *self.clip.crop_hw), dtype=torch.float32)

        inference = torch.is_inference_mode_enabled()  # thread-local: the pool's threads copy it

        def fill(slot: int) -> None:
            with torch.inference_mode(inference):
                self.clip.pixels(frames[distinct[slot]], pixels[slot])

        self._each(fill, len(distinct))
        if distinct == order:
            return pixels
        slot_of = {index: slot for slot, index in enumerate(distinct)}
        return pixels[[slot_of[index] for index in order]]

    def sam_resized(self, frames: np.ndarray, pin_memory: bool = False) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, h, w) uint8, longest side resized to SAM's input size
        (a channels-first view of one (T, h, w, 3) buffer, in page-locked memory with
        ``pin_memory`` so that copying it to a GPU does not wait for the GPU). Normalising and
        padding happen in :meth:`Sam.preprocess`, chunk by chunk."""
        height, width = int(frames.shape[1]), int(frames.shape[2])
        new_h, new_w = self.resized_hw(height, width)
        resized = torch.empty(
            (len(frames), new_h, new_w, 3), dtype=torch.uint8, pin_memory=pin_memory
        )
        buffer = resized.numpy()

        def fill(index: int) -> None:
            buffer[index] = self.sam_resize.apply_image(frames[index])

        self._each(fill, len(frames))
        return resized.permute(0, 3, 1, 2)

    def resized_hw(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of a ``height`` × ``width`` frame inside SAM's padded input."""
        return self.sam_resize.get_preprocess_shape(height, width, self.sam_resize.target_length)

    def _each(self, fill: Callable[[int], None], count: int) -> None:
        if self._pool is None or count < 2:
            for index in range(count):
                fill(index)
        else:
            for _ in self._pool.map(fill, range(count)):
                pass
