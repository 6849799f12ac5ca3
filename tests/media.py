"""Test media made on the fly with PyAV (no binary files in the repository)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode_video(
    path: Path,
    frames: np.ndarray,
    *,
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts_ms: Sequence[int] | None = None,
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode (T, H, W, 3) uint8 RGB ``frames`` to ``path`` (container from its suffix)."""
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps), options=options or {})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        time_base = Fraction(1, 1000) if pts_ms is not None else Fraction(1, fps)
        stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = pts_ms[index] if pts_ms is not None else index
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def square_frames(
    count: int, height: int, width: int, corner: tuple[int, int] = (0, 0), side: int = 8
) -> np.ndarray:
    """(count, H, W, 3) uint8: grey frames with a red square of ``side`` at ``corner`` (y, x)
    moving one pixel right per frame (clipped to the frame)."""
    frames = np.full((count, height, width, 3), 90, dtype=np.uint8)
    top, left = corner
    for index in range(count):
        x = min(left + index, width - side)
        frames[index, top : top + side, x : x + side] = (220, 30, 30)
    return frames
