"""Referring video benchmarks: one forced-answer pass per expression, masks on every frame.

Shared by the ReasonVOS, MeViS, Ref-YouTube-VOS and Ref-DAVIS17 adapters, which only list their
expressions. Predictions go to ``OUT/<predictions>/<pred_dir>/<frame>.png`` (0/255 PNGs named
after the frame files, as the published scripts write them); sets scored on a server are also
zipped to ``OUT/submission.zip`` with that folder, ``Annotations``, at its root.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from videolisa.evaluation.benchmarks.base import (
    Benchmark,
    Record,
    RunSettings,
    single_track,
)
from videolisa.evaluation.prompts import VIDEO_ANSWER
from videolisa.evaluation.score_masks import ItemScore, summarize
from videolisa.inference.trackers import TrackerCache, TrackingSettings
from videolisa.inference.video_cache import VideoCache
from videolisa.video import read_frame_files, write_mask_png

if TYPE_CHECKING:
    from videolisa.inference.encoded_video import EncodedVideo

SUBMISSION = "submission.zip"
SERVER_FOLDER = "Annotations"  # the folder at the root of a submission zip


@dataclass(frozen=True)
class VideoExpression:
    """One expression to segment.

    ``pred_dir`` is relative to the predictions folder (POSIX separators); ``score`` reads the
    predictions back from that folder and scores them against the ground truth, or is None when
    the ground truth is not public.
    """

    key: str
    frame_paths: tuple[Path, ...]
    question: str
    pred_dir: str
    score: Callable[[Path], ItemScore] | None = None


class VideoBenchmark(Benchmark):
    """Expressions over videos; J, F and J&F where every expression can be scored."""

    def __init__(
        self,
        name: str,
        expressions: Sequence[VideoExpression],
        predictions: str = "predictions",
        submission: bool = False,
    ) -> None:
        self.name = name
        self.expressions = list(expressions)
        self.predictions = predictions
        self.submission = submission
        self._encoded: VideoCache[tuple[np.ndarray, EncodedVideo]] = VideoCache(
            max_entries=1, max_bytes=1 << 62, sized=lambda _: 0
        )
        self._trackers = TrackerCache()

    def use_tracking(self, settings: TrackingSettings) -> None:
        """Carry masks over time with a tracker (``--refine`` / ``--propagate``); predictions
        then go to a folder of their own, e.g. ``predictions-refine-sam2``."""
        self.predictions = f"{self.predictions}-{settings.mode}-{settings.tracker}"

    def keys(self) -> list[str]:
        return [expression.key for expression in self.expressions]

    def run_item(self, index, pipeline, out_dir: Path, settings: RunSettings) -> Record:
        expression = self.expressions[index]
        # Expressions of a video follow each other: encode it (SAM on every frame) once.
        key = "\n".join(map(str, expression.frame_paths))

        def encode() -> tuple[np.ndarray, EncodedVideo]:
            frames = read_frame_files(expression.frame_paths)
            return frames, pipeline.encode(frames, settings.encode)

        frames, encoded = self._encoded.get_or_create(key, encode)
        answer = pipeline.answer(
            encoded, [], expression.question, VIDEO_ANSWER, settings.generation
        )
        tracking = settings.tracking
        tracker = (
            self._trackers.get(tracking.entry, tracking.checkpoint, pipeline.device)
            if tracking is not None
            else None
        )
        chunks = pipeline.masks(encoded, frames, answer.track_embeddings, tracker, tracking)
        height, width = encoded.original_hw
        tracks = np.zeros((answer.num_tracks, encoded.num_frames, height, width), dtype=bool)
        for chunk in chunks:
            tracks[:, chunk.frames] = chunk.masks
        masks = single_track(tracks, encoded.num_frames, *encoded.original_hw)
        root = out_dir / self.predictions
        folder = root / expression.pred_dir
        folder.mkdir(parents=True, exist_ok=True)
        for path, mask in zip(expression.frame_paths, masks, strict=True):
            # named up to the first dot, as the published scripts' basename(f).split('.')[0]
            write_mask_png(folder / f"{path.name.split('.')[0]}.png", mask)
        record: Record = {"key": expression.key, "answer": answer.text}
        if expression.score is not None:
            score = expression.score(root)
            record.update(j=score.j, f=score.f, missing=list(score.missing))
        return record

    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        if not records or not all("j" in record for record in records):
            return {"expressions": len(records), "scored": False}
        scores = [ItemScore(r["key"], r["j"], r["f"], tuple(r["missing"])) for r in records]
        return {"expressions": len(records), "scored": True, **summarize(scores)}

    def headline(self, records: Sequence[Record]) -> str:
        scored = [(r["j"] + r["f"]) / 2 for r in records if r.get("j") is not None]
        return f"J&F {np.mean(scored):.4f}" if scored else f"{len(records)} done"

    def finish(self, out_dir: Path, records: Sequence[Record]) -> dict[str, Any]:
        if not self.submission:
            return {}
        root = out_dir / self.predictions
        target = out_dir / SUBMISSION
        partial = target.with_name(f".{target.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*.png")):  # Annotations/ at the root, as servers read
                archive.write(path, f"{SERVER_FOLDER}/{path.relative_to(root).as_posix()}")
        os.replace(partial, target)
        return {"submission": SUBMISSION}
