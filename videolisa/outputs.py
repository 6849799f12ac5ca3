"""Writing a segmentation result: per-track mask PNGs, the overlay video and result.json.

Layout (``segment --out DIR``, and the app's masks zip)::

    DIR/masks/<track>/<frame:05d>.png   0/255, the frame's original size, track 0 first
    DIR/overlay.mp4                      the input with every track in its own colour
                                         (overlay.png for a single image)
    DIR/result.json                      answer, counts, frame indices, seconds per stage
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from videolisa.errors import UserInputError
from videolisa.sampling import FrameSampling
from videolisa.video import Mp4Writer, Video, render_overlay, write_mask_png

RENDER_CHUNK = 32  # frames rendered at a time, so the overlay never holds the whole video
MIN_FREE_BYTES = 1 << 20  # an output folder on a disk with less free space is refused
MASKS_ZIP = "masks.zip"


def check_output_folder(out: str | Path) -> Path:
    """Make sure a result can be written to ``out`` before any work (nothing is created: the
    folder appears with the result).

    Raises:
        UserInputError: ``out`` is a file, or the folder it would be made in cannot be written
            (read-only, no permission), or its disk is full; the message names it and the fix.
    """
    folder = Path(out)
    fix = "Pass --out a folder you can write to (it is created if missing)."
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        what = "The output" if existing == folder else "Its parent"
        raise UserInputError(f"{what} {existing} is a file, not a folder.", fix)
    try:  # a real write: permissions, read-only mounts and quotas all show
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=existing))
    except OSError as error:
        raise UserInputError(
            f"Cannot write to the output folder {folder} ({error.strerror or error}).", fix
        ) from error
    if shutil.disk_usage(existing).free < MIN_FREE_BYTES:
        raise UserInputError(f"The disk of the output folder {folder} is full.", fix)
    return folder


def write_failure(error: OSError, folder: Path) -> UserInputError:
    """A user-facing error for a write that failed half-way (the disk filled up, say)."""
    problem = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return UserInputError(
        f"Writing the result to {folder} failed: {problem}.",
        "Free some space or pass --out another folder, then run the command again.",
    )


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it is gone)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # removed meanwhile
            continue
    return total


def zip_result(folder: Path) -> Path:
    """``folder/masks.zip`` holding ``masks/<track>/<frame>.png`` and ``result.json`` (the
    layout of ``segment --out``)."""
    target = folder / MASKS_ZIP
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for png in sorted((folder / "masks").rglob("*.png")):
            archive.write(png, png.relative_to(folder).as_posix())
        archive.write(folder / "result.json", "result.json")
    return target


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


class ResultWriter:
    """Writes one answer's result as its masks arrive, a chunk of frames at a time::

        with ResultWriter(out, video, num_tracks) as writer:
            for chunk in pipeline.mask_steps(encoded, answer.track_embeddings):
                writer.add(chunk.frames, chunk.masks)
            summary = writer.finish(answer.text, encoded.sampling, seconds)

    Memory holds one chunk, never tracks × frames × H × W. The overlay appears under its name
    only when the block ends without an error; on an error (or a closed generator) the caller
    should delete ``out``.
    """

    def __init__(self, out: str | Path, video: Video, num_tracks: int, opacity: float = 0.5):
        self.out = Path(out)
        self.video = video
        self.num_tracks = num_tracks
        self.opacity = opacity
        self.frames_done = 0
        self.render_seconds = 0.0
        self._frames_with_mask = np.zeros(num_tracks, dtype=np.int64)
        self._mask_pixels = np.zeros(num_tracks, dtype=np.int64)
        still = video.num_frames == 1
        self.overlay_path = self.out / ("overlay.png" if still else "overlay.mp4")
        self._overlay = None if still else Mp4Writer(self.overlay_path, video.fps)

    def __enter__(self) -> ResultWriter:
        for track in range(self.num_tracks):
            (self.out / "masks" / str(track)).mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)
        if self._overlay is not None:
            self._overlay.__enter__()
        return self

    def add(self, frames: slice, masks: np.ndarray) -> None:
        """Write the (K, t, H, W) bool masks of the next frames ``frames`` (in order)."""
        if frames.start != self.frames_done or masks.shape[:2] != (
            self.num_tracks,
            frames.stop - frames.start,
        ):
            raise ValueError(
                f"expected the masks of {self.num_tracks} tracks from frame {self.frames_done}, "
                f"got {masks.shape[:2]} for frames {frames.start}..{frames.stop}"
            )
        for track in range(self.num_tracks):
            folder = self.out / "masks" / str(track)
            for offset, mask in enumerate(masks[track]):
                write_mask_png(folder / f"{frames.start + offset:05d}.png", mask)
            pixels = masks[track].reshape(len(masks[track]), -1).sum(axis=1)
            self._frames_with_mask[track] += int((pixels > 0).sum())
            self._mask_pixels[track] += int(pixels.sum())
        start = time.perf_counter()
        for frame in render_overlay(self.video.frames[frames], masks, self.opacity):
            if self._overlay is None:
                Image.fromarray(frame).save(self.overlay_path)
            else:
                self._overlay.write(frame)
        self.render_seconds += time.perf_counter() - start
        self.frames_done = frames.stop

    def finish(
        self,
        answer: str,
        sampling: FrameSampling,
        seconds: dict[str, float],
        mode: str = "one_token_seg_all",
    ) -> dict:
        """Render the frames no track was added for (a result without tracks), write
        ``result.json`` and return its content. ``mode`` says how the masks were made:
        "one_token_seg_all", or a tracker's mode such as "refine_sam2" or "propagate_sam3"
        (:func:`videolisa.inference.trackers.mask_mode`)."""
        total, height, width = self.video.num_frames, self.video.height, self.video.width
        while self.num_tracks == 0 and self.frames_done < total:
            window = slice(self.frames_done, min(self.frames_done + RENDER_CHUNK, total))
            no_masks = np.zeros((0, window.stop - window.start, height, width), dtype=bool)
            self.add(window, no_masks)
        if self.frames_done != total:
            raise ValueError(f"masks of {self.frames_done} of {total} frames were added")
        summary = {
            "answer": answer,
            "mode": mode,
            "num_tracks": self.num_tracks,
            "num_frames": total,
            "fps": self.video.fps,
            "height": self.video.height,
            "width": self.video.width,
            "tracks": self.track_summaries(),
            "sparse_frame_indices": list(sampling.sparse),
            "dense_frame_indices": list(sampling.dense_frames),
            "seconds": {
                k: round(v, 4)
                for k, v in {**seconds, "render_and_encode": self.render_seconds}.items()
            },
        }
        (self.out / "result.json").write_text(json.dumps(summary, indent=2))
        return summary

    def track_summaries(self) -> list[dict]:
        """Per track: on how many frames it has a mask, and the mean share of the frame it
        covers on those frames."""
        area = self.video.height * self.video.width
        return [
            {
                "track": track,
                "frames": int(frames),
                "mean_area": round(float(pixels) / (frames * area), 4) if frames else 0.0,
            }
            for track, (frames, pixels) in enumerate(
                zip(self._frames_with_mask, self._mask_pixels, strict=True)
            )
        ]

    def __exit__(self, kind, error, traceback) -> bool:
        if self._overlay is None:
            return False
        return self._overlay.__exit__(kind, error, traceback)
