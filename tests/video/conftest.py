"""Fixtures that encode small test videos into ``tmp_path`` with PyAV (no binary files in git)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _pattern(count: int, height: int = 48, width: int = 64) -> np.ndarray:
    """(count,H,W,3) uint8: top half red | blue; bottom half grey 20 + (20·i mod 220) in frame i."""
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    frames[:, : height // 2, : width // 2] = RED
    frames[:, : height // 2, width // 2 :] = BLUE
    grey = (20 + (20 * np.arange(count)) % 220).astype(np.uint8)
    frames[:, height // 2 :] = grey[:, None, None, None]
    return frames


@pytest.fixture
def pattern() -> Callable[..., np.ndarray]:
    """The test pattern: ``pattern(count, height=48, width=64)`` -> (T,H,W,3) uint8."""
    return _pattern


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Encode (T,H,W,3) uint8 RGB frames to ``tmp_path / name`` and return the path.

    ``pts_ms`` gives each frame's presentation time in milliseconds (variable frame rate);
    ``rotation`` stores a display matrix turning the picture that many degrees
    counter-clockwise when shown.
    """

    def make(
        name: str,
        frames: np.ndarray,
        *,
        codec: str = "libx264",
        pix_fmt: str = "yuv420p",
        fps: int = 10,
        pts_ms: Sequence[int] | None = None,
        rotation: int | None = None,
        codec_options: dict[str, str] | None = None,
        container_options: dict[str, str] | None = None,
    ) -> Path:
        path = tmp_path / name
        with av.open(str(path), "w", options=container_options or {}) as container:
            stream = container.add_stream(codec, rate=Fraction(fps), options=codec_options or {})
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = pix_fmt
            time_base = Fraction(1, 1000) if pts_ms is not None else Fraction(1, fps)
            stream.codec_context.time_base = time_base
            if rotation is not None:
                stream.set_display_rotation(rotation)
            for index, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = pts_ms[index] if pts_ms is not None else index
                frame.time_base = time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path

    return make
