"""Overlays drawn again from a result's mask PNGs (tracks hidden or corrected): no model needed."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from videolisa.video import Mp4Writer, Video, render_overlay

RENDER_CHUNK = 32  # frames rendered at a time, so the overlay never holds the whole video


def read_masks(
    folder: Path, num_tracks: int, frames: range, shape: tuple[int, int], shown: Collection[int]
) -> np.ndarray:
    """(K, t, H, W) bool masks of ``frames`` from a result folder's PNGs; tracks not in
    ``shown`` are left empty (so every track keeps its colour)."""
    masks = np.zeros((num_tracks, len(frames), *shape), dtype=bool)
    for track in shown:
        for offset, frame in enumerate(frames):
            png = folder / "masks" / str(track) / f"{frame:05d}.png"
            masks[track, offset] = np.asarray(Image.open(png)) > 127
    return masks


def redraw_overlay(
    folder: Path, video: Video, num_tracks: int, shown: Collection[int], opacity: float
) -> Path:
    """A new overlay of the result in ``folder`` showing only the tracks ``shown``, drawn from
    its mask PNGs a chunk of frames at a time (no model needed); earlier redraws are removed.
    Returns its path (``overlay-<tracks>.mp4``, or ``.png`` for an image)."""
    tracks = sorted(shown)
    suffix = ".png" if video.num_frames == 1 else ".mp4"
    name = "overlay-" + ("-".join(map(str, tracks)) or "none") + suffix
    for old in folder.glob(f"overlay-*{suffix}"):
        old.unlink(missing_ok=True)
    target = folder / name
    shape = (video.height, video.width)
    chunks = (
        (window, read_masks(folder, num_tracks, window, shape, tracks))
        for window in (
            range(begin, min(begin + RENDER_CHUNK, video.num_frames))
            for begin in range(0, video.num_frames, RENDER_CHUNK)
        )
    )
    if video.num_frames == 1:
        window, masks = next(chunks)
        Image.fromarray(render_overlay(video.frames[:1], masks, opacity)[0]).save(target)
        return target
    with Mp4Writer(target, video.fps) as writer:
        for window, masks in chunks:
            frames = video.frames[window.start : window.stop]
            for frame in render_overlay(frames, masks, opacity):
                writer.write(frame)
    return target


def overlay_frame(
    folder: Path, video: Video, num_tracks: int, frame: int, shown: Collection[int], opacity: float
) -> np.ndarray:
    """(H, W, 3) uint8: frame ``frame`` with the tracks ``shown`` of the result in ``folder``."""
    masks = read_masks(
        folder, num_tracks, range(frame, frame + 1), (video.height, video.width), shown
    )
    return render_overlay(video.frames[frame : frame + 1], masks, opacity)[0]


def overlay_frames(video: Video, masks: np.ndarray, opacity: float) -> Iterator[np.ndarray]:
    """The overlay of (K, T, H, W) bool ``masks``, frame by frame: (H, W, 3) uint8 each,
    rendered in chunks."""
    for begin in range(0, video.num_frames, RENDER_CHUNK):
        window = slice(begin, begin + RENDER_CHUNK)
        yield from render_overlay(video.frames[window], masks[:, window], opacity)
