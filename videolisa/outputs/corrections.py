"""A result folder corrected by clicks: a track's masks rewritten (its first masks kept aside,
so the corrections can be undone), then its overlay, result.json and zip brought up to date.

Layout added to a result folder::

    DIR/masks-original/<track>/<frame:05d>.png   a corrected track's masks before its corrections
    DIR/overlay-corrected-<n>.mp4                 the overlay after the n-th correction
    DIR/result.json                               + "corrections": every click and box, in order;
                                                    each track's "corrected_on" frames
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from videolisa.outputs.drawing import redraw_overlay
from videolisa.outputs.folders import zip_result
from videolisa.video import Video, write_mask_png

ORIGINAL = "masks-original"


def track_mask(folder: Path, track: int, frame: int, original: bool = False) -> np.ndarray | None:
    """(H, W) bool mask of ``track`` on ``frame`` (before any correction with ``original``);
    None where the track has none (a new track)."""
    name = f"{frame:05d}.png"
    kept = folder / ORIGINAL / str(track) / name
    path = kept if original and kept.is_file() else folder / "masks" / str(track) / name
    if not path.is_file():
        return None
    return np.asarray(Image.open(path)) > 127


def write_staged(staged: Path, masks: Iterable[tuple[int, np.ndarray]]) -> Iterable[int]:
    """Write (frame, (H, W) bool) masks into the folder ``staged`` as they come, yielding each
    frame written (the track's new masks, not in place until :func:`replace_track`)."""
    staged.mkdir(parents=True, exist_ok=True)
    for frame, mask in masks:
        write_mask_png(staged / f"{frame:05d}.png", mask)
        yield frame


def replace_track(folder: Path, track: int, staged: Path) -> None:
    """Make the masks in ``staged`` those of ``track``, keeping its masks of before its first
    correction aside."""
    current = folder / "masks" / str(track)
    kept = folder / ORIGINAL / str(track)
    if current.is_dir() and not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        current.rename(kept)
    shutil.rmtree(current, ignore_errors=True)
    current.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(current)


def restore_track(folder: Path, track: int) -> bool:
    """Put ``track``'s masks back as they were before its corrections; False if it had none
    before (a track made by clicks), which is then removed."""
    current, kept = folder / "masks" / str(track), folder / ORIGINAL / str(track)
    shutil.rmtree(current, ignore_errors=True)
    if not kept.is_dir():
        return False
    kept.rename(current)
    return True


def finish_corrections(
    folder: Path,
    video: Video,
    num_tracks: int,
    corrections: Sequence[dict[str, Any]],
    opacity: float,
) -> dict[str, Any]:
    """Bring the overlay (a new file), result.json and the masks zip up to date with the
    folder's ``num_tracks`` tracks and its ``corrections`` (as recorded, in order); result.json's
    content. The overlay's path is its ``"overlay"``."""
    summary_path = folder / "result.json"
    summary = json.loads(summary_path.read_text())
    corrected = {c["track"]: sorted({d["frame"] for d in corrections if d["track"] == c["track"]})
                 for c in corrections}  # fmt: skip
    summary["num_tracks"] = num_tracks
    summary["tracks"] = [
        {**_track_size(folder, track, video), "corrected_on": corrected.get(track, [])}
        for track in range(num_tracks)
    ]
    summary["corrections"] = list(corrections)
    for old in folder.glob("overlay-*"):
        old.unlink(missing_ok=True)
    drawn = redraw_overlay(folder, video, num_tracks, range(num_tracks), opacity)
    overlay = drawn.with_name(f"overlay-corrected-{len(corrections)}{drawn.suffix}")
    drawn.rename(overlay)
    summary["overlay"] = overlay.name
    summary_path.write_text(json.dumps(summary, indent=2))
    zip_result(folder)
    return summary


def _track_size(folder: Path, track: int, video: Video) -> dict[str, Any]:
    """On how many frames ``track`` has a mask, and the mean share of the frame it covers."""
    frames = pixels = 0
    for path in sorted((folder / "masks" / str(track)).glob("*.png")):
        count = int((np.asarray(Image.open(path)) > 127).sum())
        frames += count > 0
        pixels += count
    area = video.height * video.width
    mean = round(pixels / (frames * area), 4) if frames else 0.0
    return {"track": track, "frames": frames, "mean_area": mean}
