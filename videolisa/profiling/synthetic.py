"""A synthetic video for benchmarks: coloured shapes moving over a gradient background."""

from __future__ import annotations

import numpy as np

from videolisa.toyworld import COLOURS

_SHAPES = (  # (colour, size as a share of the shorter side, start (x, y) share, cycles per video)
    ("red", 0.25, (0.2, 0.3), 1.0),
    ("green", 0.18, (0.7, 0.6), 2.0),
    ("blue", 0.3, (0.5, 0.8), 0.5),
)


def synthetic_video(num_frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: three squares and discs circling over a vertical gradient;
    deterministic, drawn straight into the uint8 array."""
    if num_frames < 1 or height < 16 or width < 16:
        raise ValueError(f"need at least 1 frame of 16×16 px, got {num_frames}×{height}×{width}")
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    ramp = np.linspace(20, 90, height, dtype=np.float32)[:, None, None]
    frames[:] = np.broadcast_to(ramp * np.float32([0.6, 0.7, 1.0]), (height, width, 3)).astype(
        np.uint8
    )
    side = min(height, width)
    for index, (colour, size, (sx, sy), cycles) in enumerate(_SHAPES):
        radius = max(2.0, size * side / 2)
        for t in range(num_frames):
            angle = 2 * np.pi * cycles * t / max(num_frames, 1)
            cx = sx * width + 0.2 * width * np.cos(angle)
            cy = sy * height + 0.2 * height * np.sin(angle)
            # only the shape's bounding box is tested (pixels outside it are never inside)
            top, left = max(0, int(np.floor(cy - radius))), max(0, int(np.floor(cx - radius)))
            bottom = min(height, int(np.ceil(cy + radius)) + 1)
            right = min(width, int(np.ceil(cx + radius)) + 1)
            if top >= bottom or left >= right:
                continue
            rows, cols = np.ogrid[top:bottom, left:right]
            if index % 2:
                inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
            else:
                inside = (np.abs(rows - cy) <= radius) & (np.abs(cols - cx) <= radius)
            frames[t, top:bottom, left:right][inside] = COLOURS[colour]
    return frames
