"""Draw segmentation tracks over video frames: a translucent fill plus a contour that shows on
any object: an outer line in the track's colour and an inner line in black or white, whichever
contrasts with the pixels under it (so a red track still shows on a red object)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from videolisa.errors import ConfigError

# Saturated RGB colours, hues 30° apart (85 % saturation, full value), ordered so that
# consecutive tracks differ most: red, green, blue, yellow, cyan, magenta, then the in-betweens.
TRACK_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 38, 38),
    (38, 255, 38),
    (38, 38, 255),
    (255, 255, 38),
    (38, 255, 255),
    (255, 38, 255),
    (255, 147, 38),
    (38, 255, 147),
    (147, 38, 255),
    (147, 255, 38),
    (38, 147, 255),
    (255, 38, 147),
)
# Contour thickness in pixels: the mask minus its erosion by a diamond of this radius; the
# outermost pixel is the track's colour, the rest the contrasting colour.
CONTOUR_WIDTH = 2
DARK, LIGHT = (0, 0, 0), (255, 255, 255)
LIGHT_LUMA = 140  # pixels at least this bright get a dark line, darker ones a light line


def track_color(track: int) -> tuple[int, int, int]:
    """RGB colour of track ``track`` (0-based); colours repeat after ``len(TRACK_COLORS)``."""
    return TRACK_COLORS[track % len(TRACK_COLORS)]


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (...) BT.601 luma in [0, 255], as H.264 keeps it."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def contour_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The contrasting line colour drawn over a pixel of colour ``rgb``: black or white."""
    return DARK if luma(np.asarray(rgb, dtype=np.float64)) >= LIGHT_LUMA else LIGHT


def render_overlay(frames: np.ndarray, masks: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend each track's mask onto the frames in its colour and outline it.

    Args:
        frames: (T,H,W,3) uint8 RGB; not modified.
        masks: (K,T,H,W) bool, one mask per track and frame; K may be 0.
        opacity: weight of the track colour inside a mask, in [0, 1] (0 leaves only the
            contour, 1 paints the mask solid).

    Returns:
        (T,H,W,3) uint8 RGB, a new array. Inside track k's mask a pixel becomes
        ``round((1 - opacity) * pixel + opacity * track_color(k))``; the outermost pixel of the
        mask is ``track_color(k)`` exactly and the next :data:`CONTOUR_WIDTH` - 1 are black or
        white, whichever contrasts with the input pixel there (:func:`contour_color`). The frame
        border does not count as mask edge, so a mask cut off by the border is not outlined
        there. Later tracks are drawn over earlier ones. Pixels outside every mask are unchanged.

    Raises:
        ConfigError: ``opacity`` is outside [0, 1].
        ValueError: the shapes or dtypes do not match the above.
    """
    if not (isinstance(opacity, numbers.Real) and math.isfinite(opacity) and 0 <= opacity <= 1):
        raise ConfigError(
            f"opacity must be between 0 and 1, got {opacity!r}.",
            "Use e.g. 0.5 for a half-transparent fill.",
        )
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T,H,W,3) uint8, got {frames.dtype} {frames.shape}")
    if masks.ndim != 4 or masks.shape[1:] != frames.shape[:3] or masks.dtype != np.bool_:
        raise ValueError(
            f"masks must be (K,{','.join(map(str, frames.shape[:3]))}) bool, "
            f"got {masks.dtype} {masks.shape}"
        )
    out = np.array(frames, order="C", copy=True)
    pixels = out.reshape(-1, 3)  # (T*H*W,3) view of out
    levels = np.arange(256, dtype=np.float64)
    for track in range(masks.shape[0]):
        mask = masks[track]
        if not mask.any():
            continue
        color = np.array(track_color(track), dtype=np.uint8)
        outer = mask & ~_erode(mask, 1)
        contour = mask & ~_erode(mask, CONTOUR_WIDTH)
        # Flat indices with take/put are several times faster than boolean-mask indexing.
        inside = np.flatnonzero(mask ^ contour)
        selected = pixels.take(inside, axis=0)
        for channel in range(3):
            blended = np.rint(levels * (1 - opacity) + int(color[channel]) * opacity)
            selected[:, channel] = blended.astype(np.uint8).take(selected[:, channel])
        pixels[inside] = selected
        inner = np.flatnonzero(contour ^ outer)
        light = luma(frames.reshape(-1, 3).take(inner, axis=0).astype(np.float32)) >= LIGHT_LUMA
        pixels[inner] = np.where(light[:, None], np.uint8(0), np.uint8(255))
        pixels[np.flatnonzero(outer)] = color
    return out


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode a (T,H,W) bool mask by a diamond of ``radius``; pixels past the border count as set."""
    eroded = mask
    for _ in range(radius):
        shrunk = eroded.copy()
        shrunk[:, 1:] &= eroded[:, :-1]
        shrunk[:, :-1] &= eroded[:, 1:]
        shrunk[:, :, 1:] &= eroded[:, :, :-1]
        shrunk[:, :, :-1] &= eroded[:, :, 1:]
        eroded = shrunk
    return eroded
