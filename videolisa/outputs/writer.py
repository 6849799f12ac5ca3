"""Writing an answer's result as its masks arrive: mask PNGs, the overlay and result.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from videolisa.outputs.drawing import RENDER_CHUNK
from videolisa.sampling import FrameSampling
from videolisa.video import Mp4Writer, Video, render_overlay, write_mask_png


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
