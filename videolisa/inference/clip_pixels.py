"""CLIP input pixels, equal bit for bit to transformers' PIL ``CLIPImageProcessor``, computed
as a batch.

The library processes one image at a time: PIL resize of the shortest side, centre crop, then
``rescale`` (uint8 -> float64 times the factor -> float32) and ``normalize`` ((x - mean) / std
in float32) as separate NumPy passes over each image, behind per-image validation. Here each
frame is resized once with the same PIL call, cropped, and rescaled and normalised by a few
float32 operations straight into its slice of the batch (on a thread pool, see
:mod:`videolisa.inference.preprocess`).

Why the numbers are the same: after the resize, every output value is a function of its
channel and its uint8 value alone (256 × 3 possibilities). :class:`ClipPixels` computes that
table with the library's own ``rescale`` and ``normalize`` when it is built, and uses the fast
float32 operations (a division by 255 in float32 instead of the float64 multiplication) only if
they reproduce the table exactly on all 768 inputs; otherwise it looks the values up in the
table (also exact, slower).
"""

from __future__ import annotations

from math import ceil

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessorPil

from videolisa.errors import ConfigError

__all__ = ["ClipPixels"]


class ClipPixels:
    """The steps of ``processor`` on one uint8 RGB frame, written into a slice of the batch:
    :meth:`pixels` (tests/inference/test_clip_pixels.py checks the result against the processor
    on odd sizes; the golden test against the record)."""

    def __init__(self, processor: CLIPImageProcessorPil) -> None:
        self.processor = processor
        _check_supported(processor)
        self.shortest_edge = int(processor.size["shortest_edge"])
        self.crop_hw = (int(processor.crop_size["height"]), int(processor.crop_size["width"]))
        self.resample = Image.Resampling(int(processor.resample))
        self._table = _library_table(processor)  # (3, 256) float32
        self._mean = np.array(processor.image_mean, dtype=np.float32).reshape(3, 1, 1)
        self._std = np.array(processor.image_std, dtype=np.float32).reshape(3, 1, 1)
        divisor = round(1 / processor.rescale_factor)
        self._divisor = divisor if self._fast_ops_exact(divisor) else None

    def pixels(self, frame: np.ndarray, out: torch.Tensor) -> None:
        """(H, W, 3) uint8 frame -> its (3, P, P) float32 CLIP pixels, written into ``out``
        (normalised right after the resize, while the frame is in the CPU's cache)."""
        self.normalise_into(self.resized_crop(frame), out)

    def resized_crop(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (P, P, 3) uint8: the library's PIL resize (shortest side to
        ``shortest_edge``) and centre crop (zero padding where the resized frame is smaller)."""
        new_h, new_w = self.resized_hw(frame.shape[0], frame.shape[1])
        resized = np.array(Image.fromarray(frame).resize((new_w, new_h), self.resample))
        return _centre_crop(resized, self.crop_hw)

    def resized_hw(self, height: int, width: int) -> tuple[int, int]:
        """transformers' ``get_resize_output_image_size`` with ``default_to_square=False``."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def normalise_into(self, crop: np.ndarray, out: torch.Tensor) -> None:
        """(h, w, 3) uint8 -> (3, h, w) float32 rescaled and normalised pixels in ``out``.

        NumPy's single-threaded operations, as the library's own: PyTorch's would split each
        small frame over its intra-op threads, many times slower when another process keeps a
        core busy."""
        pixels = out.numpy()
        channels_first = crop.transpose(2, 0, 1)
        if self._divisor is None:
            for channel in range(3):
                np.take(self._table[channel], channels_first[channel], out=pixels[channel])
            return
        np.copyto(pixels, channels_first)  # uint8 -> float32
        np.divide(pixels, np.float32(self._divisor), out=pixels)
        np.subtract(pixels, self._mean, out=pixels)
        np.divide(pixels, self._std, out=pixels)

    def _fast_ops_exact(self, divisor: int) -> bool:
        """Whether the float32 operations of :meth:`normalise_into` give the library's table."""
        every_value = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (1, 256, 3))
        self._divisor = divisor
        fast = torch.empty((3, 1, 256))
        self.normalise_into(np.ascontiguousarray(every_value), fast)
        return np.array_equal(fast.numpy().reshape(3, 256), self._table)


def _library_table(processor: CLIPImageProcessorPil) -> np.ndarray:
    """(3, 256) float32: the processor's own ``rescale`` then ``normalize`` of every uint8
    value in every channel."""
    values = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 1, 256)).copy()  # (C, 1, 256)
    rescaled = processor.rescale(values, processor.rescale_factor)
    normalised = processor.normalize(rescaled, processor.image_mean, processor.image_std)
    return np.ascontiguousarray(normalised[:, 0, :], dtype=np.float32)


def _centre_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """transformers' ``center_crop`` on (H, W, 3) uint8, zero padding included."""
    height, width = image.shape[:2]
    crop_h, crop_w = size
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    if top >= 0 and left >= 0:
        return image[top : top + crop_h, left : left + crop_w]
    new_h, new_w = max(crop_h, height), max(crop_w, width)
    canvas = np.zeros((new_h, new_w, 3), dtype=image.dtype)
    pad_top, pad_left = ceil((new_h - height) / 2), ceil((new_w - width) / 2)
    canvas[pad_top : pad_top + height, pad_left : pad_left + width] = image
    top, left = top + pad_top, left + pad_left
    return canvas[max(0, top) : min(new_h, top + crop_h), max(0, left) : min(new_w, left + crop_w)]


def _check_supported(processor: CLIPImageProcessorPil) -> None:
    """The processor settings :class:`ClipPixels` reproduces: every step on, the size given as
    a shortest edge, RGB input."""
    steps = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")
    off = [name for name in steps if not getattr(processor, name, False)]
    size = processor.size or {}
    if off or not size.get("shortest_edge") or size.get("longest_edge"):
        raise ConfigError(
            f"The vision tower's preprocessor_config.json is not a CLIP one (steps off: "
            f"{', '.join(off) or 'none'}; size {processor.size}).",
            "Use a CLIP vision tower whose preprocessor resizes the shortest edge, centre crops, "
            "rescales and normalises (e.g. openai/clip-vit-large-patch14-336).",
        )
