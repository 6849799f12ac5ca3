"""Fixtures that encode small test videos into ``tmp_path`` with PyAV (no binary files in git)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.media import encode_video

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
        return encode_video(
            tmp_path / name,
            frames,
            fps=fps,
            codec=codec,
            pix_fmt=pix_fmt,
            pts_ms=pts_ms,
            rotation=rotation,
            options=codec_options,
            container_options=container_options,
        )

    return make
