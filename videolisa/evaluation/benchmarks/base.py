"""What the evaluation runner needs from a benchmark adapter."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from videolisa.errors import UserInputError
from videolisa.evaluation.layouts import read_json

if TYPE_CHECKING:
    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.inference.generation import GenerationSettings
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.inference.trackers import TrackingSettings

logger = logging.getLogger(__name__)

Record = dict[str, Any]


@dataclass(frozen=True)
class RunSettings:
    """How every item is run: how videos are encoded (``sam_batch`` and the SAM memory budget
    change masks at most by rounding), how answers are generated (where they are) and how many
    tracks an answer may have (``generation.max_tracks``), and the tracker that carries masks
    over time (video benchmarks; None: One-Token-Seg-All)."""

    encode: EncodeSettings
    generation: GenerationSettings
    tracking: TrackingSettings | None = None


class Benchmark(ABC):
    """A list of items, how to run one, and how to sum up the records they leave.

    ``run_item`` writes the item's predictions under ``out_dir`` and returns a JSON-serialisable
    record (its scores); the runner stores it as the item's done marker. ``summarize`` must depend
    only on the records, so a resumed run gives the same summary.
    """

    name: str

    @abstractmethod
    def keys(self) -> list[str]:
        """Unique names of the items, in evaluation order."""

    @abstractmethod
    def run_item(
        self, index: int, pipeline: VideoLISAPipeline, out_dir: Path, settings: RunSettings
    ) -> Record:
        """Run item ``index``, write its predictions, return its record."""

    @abstractmethod
    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        """The benchmark's scores from the records of all items, in item order."""

    @abstractmethod
    def headline(self, records: Sequence[Record]) -> str:
        """A short running score for the progress bar."""

    def finish(self, out_dir: Path, records: Sequence[Record]) -> dict[str, Any]:
        """Work once the items are done (e.g. a submission zip); extra summary entries."""
        return {}


def jpeg_frames(folder: Path) -> tuple[Path, ...]:
    """The ``*.jpg`` files of a video folder in sorted order, as the published scripts list them."""
    paths = tuple(sorted(folder.glob("*.jpg")))
    if not paths:
        raise UserInputError(f"No .jpg frames in {folder}.", "Check --data.")
    return paths


def video_folders(frame_root: Path, videos: dict[str, Any], meta: Path) -> list[Path]:
    """The video folders of ``frame_root`` in sorted order, as the published inference scripts
    list the videos to run (``os.listdir``); each must be a video of ``meta``."""
    if not frame_root.is_dir():
        raise UserInputError(f"{frame_root} does not exist.", "Check --data.")
    folders = sorted(path for path in frame_root.iterdir() if path.is_dir())
    for folder in folders:
        if folder.name not in videos:
            raise UserInputError(
                f"Video {folder.name} of {frame_root} is not in {meta}.",
                "Use the frames and the meta file of one release.",
            )
    unseen = len(videos) - len(folders)
    if unseen:
        logger.warning("%d videos of %s have no frames in %s; not run", unseen, meta, frame_root)
    return folders


def single_track(masks: np.ndarray, num_frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W) masks of the first track of ``masks`` (K, T, H, W), empty when K is 0."""
    if len(masks):
        return masks[0]
    return np.zeros((num_frames, height, width), dtype=bool)


def meta_videos(meta: Path) -> dict[str, Any]:
    """The ``videos`` object of a ``meta_expressions.json``, each with an ``expressions`` object."""
    content = read_json(meta, "the benchmark's meta_expressions.json in --data")
    videos = content.get("videos") if isinstance(content, dict) else None
    if not isinstance(videos, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("expressions"), dict) for v in videos.values()
    ):
        raise UserInputError(
            f'{meta} has no "videos" object with "expressions" per video.',
            "Pass the benchmark's meta_expressions.json.",
        )
    return videos


def text_field(entry: dict[str, Any], name: str, where: str) -> str:
    """``entry[name]``, which must be a string; ``where`` names the entry in messages."""
    value = entry.get(name)
    if not isinstance(value, str):
        raise UserInputError(
            f'{where} lacks a text "{name}" field.', "Check that --benchmark matches --data."
        )
    return value
