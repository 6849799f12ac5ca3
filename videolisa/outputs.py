"""Writing a segmentation result: per-track mask PNGs, the overlay video and result.json.

Layout (``segment --out DIR``, and the app's masks zip)::

    DIR/masks/<track>/<frame:05d>.png   0/255, the frame's original size, track 0 first
    DIR/overlay.mp4                      the input with every track in its own colour
                                         (overlay.png for a single image)
    DIR/result.json                      answer, counts, frame indices, seconds per stage
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from videolisa.sampling import FrameSampling
from videolisa.video import Mp4Writer, Video, render_overlay, write_mask_png

RENDER_CHUNK = 32  # frames rendered at a time, so the overlay never holds the whole video


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
        "one_token_seg_all", "refine_sam2" or "propagate_sam2"."""
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
            "sparse_frame_indices": list(sampling.sparse),
            "dense_frame_indices": list(sampling.dense_frames),
            "seconds": {
                k: round(v, 4)
                for k, v in {**seconds, "render_and_encode": self.render_seconds}.items()
            },
        }
        (self.out / "result.json").write_text(json.dumps(summary, indent=2))
        return summary

    def __exit__(self, kind, error, traceback) -> bool:
        if self._overlay is None:
            return False
        return self._overlay.__exit__(kind, error, traceback)
