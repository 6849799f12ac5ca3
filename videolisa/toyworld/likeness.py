"""Does a video look like the toy world? The bundled model knows nothing else.

Toy-world frames are a dark background (with noise) and flat shapes in a few known colours, all
scaled by one brightness factor (:func:`videolisa.toyworld.world.render_frames`). A real video
has most of its pixels in other colours, or (a dark scene) its brighter pixels are not the toy
world's saturated colours at their brightness.
"""

from __future__ import annotations

import numpy as np

from videolisa.toyworld.world import COLOURS

DARK_LEVEL = 80  # brightest channel of a background pixel (noise and compression included)
COLOUR_COSINE = 0.985  # RGB direction of a shape pixel against its palette colour
COLOUR_BRIGHTNESS = (0.75, 1.25)  # its length against the palette colour's
TOY_PIXEL_SHARE = 0.9  # share of pixels that must fit for a frame to look like the toy world
SHAPE_PIXEL_SHARE = 0.6  # share of the pixels that are not dark that must be palette colours
SAMPLED_FRAMES = 8
SAMPLED_SIDE = 96  # pixels per side kept of each sampled frame (strided)

_PALETTE = np.array(list(COLOURS.values()), dtype=np.float32)
_PALETTE_LENGTH = np.linalg.norm(_PALETTE, axis=1)
_PALETTE_UNIT = _PALETTE / _PALETTE_LENGTH[:, None]


def toy_pixel_shares(frames: np.ndarray) -> tuple[float, float]:
    """For a few frames of (T, H, W, 3) uint8 RGB ``frames``: the share of pixels that are
    background-dark or in the direction of a toy-world colour, and the share of the pixels that
    are not dark that are toy-world colours at their brightness (1.0 when all are dark)."""
    step = max(1, len(frames) // SAMPLED_FRAMES)
    stride = max(1, max(frames.shape[1:3]) // SAMPLED_SIDE)
    pixels = frames[::step, ::stride, ::stride].reshape(-1, 3).astype(np.float32)
    dark = pixels.max(axis=1) <= DARK_LEVEL
    length = np.maximum(np.linalg.norm(pixels, axis=1), 1.0)
    cosine = (pixels / length[:, None]) @ _PALETTE_UNIT.T  # (N, colours)
    nearest = cosine.argmax(axis=1)
    coloured = cosine.max(axis=1) >= COLOUR_COSINE
    ratio = length / _PALETTE_LENGTH[nearest]
    bright = (ratio >= COLOUR_BRIGHTNESS[0]) & (ratio <= COLOUR_BRIGHTNESS[1])
    fits = float(np.mean(dark | coloured))
    lit = ~dark
    shapes = float(np.mean((coloured & bright)[lit])) if lit.any() else 1.0
    return fits, shapes


def looks_like_toy_world(frames: np.ndarray) -> bool:
    """True when (T, H, W, 3) uint8 RGB ``frames`` look like toy-world frames."""
    fits, shapes = toy_pixel_shares(frames)
    return fits >= TOY_PIXEL_SHARE and shapes >= SHAPE_PIXEL_SHARE
