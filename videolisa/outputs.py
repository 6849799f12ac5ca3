"""Writing a segmentation result: per-track mask PNGs, the overlay video and result.json.

Layout (``segment --out DIR``, and the app's masks zip)::

    DIR/masks/<track>/<frame:05d>.png   0/255, the frame's original size, track 0 first
    DIR/overlay.mp4                      the input with every track in its own colour
    DIR/result.json                      answer, counts, frame indices, seconds per stage
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from videolisa.sampling import FrameSampling
from videolisa.video import Video, render_overlay, write_mask_png, write_mp4

RENDER_CHUNK = 32  # frames rendered at a time, so the overlay never holds the whole video


@dataclass
class SegmentationResult:
    """What one answered question produced for one video."""

    answer: str
    masks: np.ndarray  # (K, T, H, W) bool, one track per <TRK> in the answer
    sampling: FrameSampling
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def num_tracks(self) -> int:
        return int(self.masks.shape[0])


def overlay_frames(video: Video, masks: np.ndarray, opacity: float) -> Iterator[np.ndarray]:
    """The overlay, frame by frame: (H, W, 3) uint8 each, rendered in chunks."""
    for begin in range(0, video.num_frames, RENDER_CHUNK):
        window = slice(begin, begin + RENDER_CHUNK)
        yield from render_overlay(video.frames[window], masks[:, window], opacity)


def write_result(
    out: str | Path, video: Video, result: SegmentationResult, opacity: float = 0.5
) -> dict:
    """Write masks, overlay.mp4 and result.json under ``out``; returns the result.json dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for track in range(result.num_tracks):
        folder = out / "masks" / str(track)
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(video.num_frames):
            write_mask_png(folder / f"{index:05d}.png", result.masks[track, index])
    start = time.perf_counter()
    write_mp4(out / "overlay.mp4", overlay_frames(video, result.masks, opacity), video.fps)
    seconds = {**result.seconds, "render_and_encode": time.perf_counter() - start}
    summary = {
        "answer": result.answer,
        "num_tracks": result.num_tracks,
        "num_frames": video.num_frames,
        "fps": video.fps,
        "height": video.height,
        "width": video.width,
        "sparse_frame_indices": list(result.sampling.sparse),
        "dense_frame_indices": list(result.sampling.dense_frames),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }
    (out / "result.json").write_text(json.dumps(summary, indent=2))
    return summary
