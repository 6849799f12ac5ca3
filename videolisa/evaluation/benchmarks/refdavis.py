"""Ref-DAVIS17 in the Ref-YouTube-VOS layout most methods convert it to (ReferFormer's
``convert_davis_to_ytvos.py``): ``DATA/valid/JPEGImages/<video>/*.jpg``, palette ground truth
``DATA/valid/Annotations/<video>/<frame>.png`` (pixel value = object id) and
``DATA/meta_expressions/valid/meta_expressions.json`` (``{"videos": {video: {"frames",
"expressions": {exp_id: {"exp", "obj_id"}}}}}``).

Predictions go to ``OUT/predictions/<video>/<exp_id>/<frame>.png``. Where a video's ground truth
is present each expression is scored locally against its object's mask (DAVIS J and F, the mean
over expressions). The published number instead merges each of the four annotators' expressions
of a video into one palette mask per frame and runs the DAVIS 2017 evaluation on each annotator's
set; this per-expression score is a close check, not that protocol. For that protocol the
predictions are also merged as the published ``post_process_davis.py`` merges them: a video's
expressions are ordered object by object, four annotators each (expression ``4 * o + a`` is
annotator ``a``'s for object ``o``), and ``OUT/anno_<a>/<video>/<frame>.png`` is a palette mask
holding, per pixel, 1 + the first object whose mask covers it (0: background). Where the ground
truth is present each ``anno_<a>`` folder is then scored as the DAVIS 2017 semi-supervised
evaluation scores a results folder (J and F of every object over all frames but the first and
the last, the mean over the objects of all videos) and the summary's ``davis2017`` holds the
four annotators' J, F, J&F and their means: the published protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Record, jpeg_frames, meta_videos, text_field
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.layouts import read_mask_png
from videolisa.evaluation.metrics import sequence_scores
from videolisa.evaluation.prompts import referring_question
from videolisa.evaluation.score_masks import ItemScore

logger = logging.getLogger(__name__)

ANNOTATORS = 4


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The Ref-DAVIS17 valid expressions under the converted dataset root ``data``."""
    meta = data / "meta_expressions" / "valid" / "meta_expressions.json"
    expressions = []
    objects: dict[str, int] = {}  # expression key -> its object's id in the ground truth
    ground_truth: dict[str, tuple[Path, ...]] = {}  # video -> palette masks, where public
    for video, entry in meta_videos(meta).items():
        frames = jpeg_frames(data / "valid" / "JPEGImages" / video)
        gt_paths = tuple(data / "valid" / "Annotations" / video / f"{p.stem}.png" for p in frames)
        has_gt = all(path.is_file() for path in gt_paths)
        for exp_id, expression in entry["expressions"].items():
            where = f"Expression {exp_id} of {video} in {meta}"
            text = text_field(expression, "exp", where)
            try:
                obj_id = int(expression.get("obj_id"))
            except (TypeError, ValueError) as error:
                raise UserInputError(f'{where} lacks an "obj_id".', "Pass Ref-DAVIS17.") from error
            key = f"{video}_{exp_id}"
            pred_dir = f"{video}/{exp_id}"
            expressions.append(
                VideoExpression(
                    key=key,
                    frame_paths=frames,
                    question=referring_question(text),
                    pred_dir=pred_dir,
                    score=partial(score_object, key, pred_dir, gt_paths, obj_id)
                    if has_gt
                    else None,
                )
            )
            objects[key] = obj_id
        if has_gt:
            ground_truth[video] = gt_paths
    return RefDavisBenchmark(expressions, objects, ground_truth)


class RefDavisBenchmark(VideoBenchmark):
    """Ref-DAVIS17 expressions; also merged per annotator for the DAVIS 2017 evaluation."""

    def __init__(
        self,
        expressions: Sequence[VideoExpression],
        objects: dict[str, int],
        ground_truth: dict[str, tuple[Path, ...]],
    ) -> None:
        super().__init__("refdavis", expressions)
        self._objects = objects
        self._ground_truth = ground_truth

    def finish(self, out_dir: Path, records: Sequence[Record]) -> dict[str, Any]:
        done = {record["key"] for record in records}
        videos: dict[str, list[VideoExpression]] = {}
        for expression in self.expressions:
            videos.setdefault(expression.pred_dir.split("/")[0], []).append(expression)
        merged: dict[str, list[list[VideoExpression]]] = {}  # video -> objects per annotator
        for video, expressions in videos.items():
            if any(expression.key not in done for expression in expressions):
                continue
            if len(expressions) % ANNOTATORS:
                logger.warning(
                    "video %s has %d expressions, not %d per object; the last %d are left out",
                    video,
                    len(expressions),
                    ANNOTATORS,
                    len(expressions) % ANNOTATORS,
                )
            merged[video] = []
            for annotator in range(ANNOTATORS):
                objects = expressions[annotator::ANNOTATORS][: len(expressions) // ANNOTATORS]
                self._merge(out_dir, video, objects, out_dir / f"anno_{annotator}" / video)
                merged[video].append(objects)
        summary: dict[str, Any] = {
            "annotator_folders": [f"anno_{a}" for a in range(ANNOTATORS)] if merged else []
        }
        short = [v for v in merged if len(self._ground_truth.get(v, ())) in (1, 2)]
        if short:
            logger.warning("under 3 frames, not in the DAVIS 2017 score: %s", ", ".join(short))
        scored = {v: merged[v] for v in merged if len(self._ground_truth.get(v, ())) >= 3}
        if scored:
            summary["davis2017"] = self._davis2017(out_dir, scored)
        return summary

    def _davis2017(
        self, out_dir: Path, videos: dict[str, list[list[VideoExpression]]]
    ) -> dict[str, Any]:
        """J, F and J&F of each ``anno_<a>`` folder by the DAVIS 2017 semi-supervised rules,
        and their means over the annotators."""
        scores: list[list[tuple[float, float]]] = [[] for _ in range(ANNOTATORS)]
        for video, annotators in videos.items():
            frames = self._ground_truth[video][1:-1]
            truth = np.stack([_palette_ids(path) for path in frames])
            for annotator, objects in enumerate(annotators):
                folder = out_dir / f"anno_{annotator}" / video
                labels = np.stack([_palette_ids(folder / path.name) for path in frames])
                for number, expression in enumerate(objects, start=1):
                    obj_id = self._objects[expression.key]
                    scores[annotator].append(sequence_scores(labels == number, truth == obj_id))
        per_annotator = []
        for annotator_scores in scores:
            j = float(np.mean([j for j, _ in annotator_scores]))
            f = float(np.mean([f for _, f in annotator_scores]))
            count = len(annotator_scores)
            per_annotator.append({"J": j, "F": f, "J&F": (j + f) / 2, "objects": count})
        return {
            "J": float(np.mean([a["J"] for a in per_annotator])),
            "F": float(np.mean([a["F"] for a in per_annotator])),
            "J&F": float(np.mean([a["J&F"] for a in per_annotator])),
            "per_annotator": per_annotator,
        }

    def _merge(
        self, out_dir: Path, video: str, objects: Sequence[VideoExpression], target: Path
    ) -> None:
        """Write one palette mask per frame: 1 + the first object covering a pixel, else 0."""
        if not objects:
            return
        target.mkdir(parents=True, exist_ok=True)
        for path in objects[0].frame_paths:
            name = f"{path.stem}.png"
            masks = [
                read_mask_png(out_dir / self.predictions / expression.pred_dir / name)
                for expression in objects
            ]
            labels = np.zeros(masks[0].shape, dtype=np.uint8)
            for number, mask in enumerate(masks, start=1):
                labels[(labels == 0) & mask] = number
            image = Image.fromarray(labels)
            image.putpalette(DAVIS_PALETTE)
            image.save(target / name)


def _davis_palette() -> list[int]:
    """The DAVIS (PASCAL VOC) colour palette: entry i spreads i's bits over R, G and B."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        for shift in range(8):
            bits = index >> (3 * shift)
            red |= (bits & 1) << (7 - shift)
            green |= ((bits >> 1) & 1) << (7 - shift)
            blue |= ((bits >> 2) & 1) << (7 - shift)
        palette += [red, green, blue]
    return palette


DAVIS_PALETTE = _davis_palette()


def score_object(
    key: str, pred_dir: str, gt_paths: tuple[Path, ...], obj_id: int, pred_root: Path
) -> ItemScore:
    """J and F of the predictions in ``pred_root/pred_dir`` against object ``obj_id`` of the
    palette masks ``gt_paths``; a missing prediction is an empty mask and is listed."""
    gts = np.stack([_palette_ids(path) == obj_id for path in gt_paths])
    preds = np.zeros_like(gts)
    missing = []
    for t, path in enumerate(gt_paths):
        pred_path = pred_root / pred_dir / path.name
        if not pred_path.is_file():
            missing.append(f"{pred_dir}/{path.name}")
            continue
        mask = read_mask_png(pred_path)
        if mask.shape != gts.shape[1:]:
            raise UserInputError(
                f"Predicted mask {pred_path} is {mask.shape[1]}x{mask.shape[0]}, unlike its "
                f"ground truth {path}.",
                "Save predictions at the original frame size.",
            )
        preds[t] = mask
    j, f = sequence_scores(preds, gts)
    return ItemScore(key, j, f, tuple(missing))


def _palette_ids(path: Path) -> np.ndarray:
    """(H, W) object ids of a DAVIS palette (or 8-bit grey) annotation."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise UserInputError(
                    f"{path} is a {image.mode} image, not a palette annotation.",
                    "Pass Ref-DAVIS17's valid/Annotations.",
                )
            return np.asarray(image)
    except OSError as error:
        raise UserInputError(f"Cannot read {path}: {error}.", "Check --data.") from error
