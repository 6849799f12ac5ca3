"""Ref-DAVIS17 as the published scripts read it: the Ref-YouTube-VOS layout that ReferFormer's
``convert_davis_to_ytvos.py`` makes of DAVIS 2017 and the Ref-DAVIS text annotations.
``DATA/valid/JPEGImages/<video>/<frame>.jpg`` (``00000.jpg``, ``00001.jpg``, ...),
``DATA/valid/Annotations/<video>/<frame>.png`` (DAVIS's ``Annotations_unsupervised/480p``, moved
there: palette PNGs, pixel value = object id, 255 void) and
``DATA/meta_expressions/valid/meta_expressions.json``, ``{"videos": {video: {"expressions":
{exp_id: {"exp": str, "obj_id": str}}, "frames": [frame, ...]}}}``, whose expressions go object by
object, four each (annotator 1's first-frame and full-video expressions, then annotator 2's): the
object ``o``'s expression of "annotator" ``a`` is number ``4 * o + a``.

Each video of the meta file is run (its frames must be as many as its ``frames`` list, which
``post_process_davis.py`` checks), each expression in the file's order, on all its ``.jpg`` frames
in sorted order, asked ``"Please segment the {exp} in this image."`` (lower-cased), as
``evaluation/refdavis/inference_davis.py`` does; predictions go to
``OUT/predictions/<video>/<exp_id>/<frame>.png`` (0/255; the published script writes 0/100, which
the next step reads the same). Where a video's ground truth is present each expression is also
scored against the object its ``obj_id`` names (J and F, the mean over expressions): a quick
check, not the published protocol.

The published number: ``post_process_davis.py`` merges, per annotator ``a``, a video's objects
into ``anno_<a>/<video>/<frame>.png``, a palette mask holding per pixel 1 + the first object
whose mask covers it (0: background); ``eval_davis.py`` then scores each ``anno_<a>`` folder with
its default task, DAVIS 2017 *unsupervised*: the ground-truth objects are the ids 1 ... the
largest id of the first frame, scored on every frame with void pixels left out; each is paired
with one merged object (an empty one where they run out) so that the summed mean (J + F) / 2 is
largest; J and F are the means over the objects of all videos, and J&F their mean. Here the same
is done where the ground truth is present: the summary's ``davis2017`` holds each annotator's J,
F and J&F and their means over the four annotators.
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
VOID = 255  # DAVIS's label for pixels left out of the score


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The Ref-DAVIS17 valid expressions under the converted dataset root ``data``."""
    meta = data / "meta_expressions" / "valid" / "meta_expressions.json"
    expressions = []
    ground_truth: dict[str, tuple[Path, ...]] = {}  # video -> palette masks, where public
    for video, entry in meta_videos(meta).items():
        frames = jpeg_frames(data / "valid" / "JPEGImages" / video)
        listed = entry.get("frames")
        if not isinstance(listed, list) or len(listed) != len(frames):
            raise UserInputError(
                f'Video {video} has {len(frames)} frames, but its "frames" list in {meta} '
                f"has {len(listed) if isinstance(listed, list) else 'no'} entries.",
                "Use the frames and the meta file of one conversion.",
            )
        names = [path.name.split(".")[0] for path in frames]  # as the predictions are named
        gt_paths = tuple(data / "valid" / "Annotations" / video / f"{n}.png" for n in names)
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
        if has_gt:
            ground_truth[video] = gt_paths
    return RefDavisBenchmark(expressions, ground_truth)


class RefDavisBenchmark(VideoBenchmark):
    """Ref-DAVIS17 expressions; also merged per annotator and scored as ``eval_davis.py`` does."""

    def __init__(
        self, expressions: Sequence[VideoExpression], ground_truth: dict[str, tuple[Path, ...]]
    ) -> None:
        super().__init__("refdavis", expressions)
        self._ground_truth = ground_truth

    def finish(self, out_dir: Path, records: Sequence[Record]) -> dict[str, Any]:
        done = {record["key"] for record in records}
        videos: dict[str, list[VideoExpression]] = {}
        for expression in self.expressions:
            videos.setdefault(expression.pred_dir.split("/")[0], []).append(expression)
        merged = []
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
            if len(expressions) < ANNOTATORS:
                continue  # no object to merge (the published post-processing fails)
            for annotator in range(ANNOTATORS):
                objects = expressions[annotator::ANNOTATORS][: len(expressions) // ANNOTATORS]
                self._merge(out_dir, video, objects, out_dir / f"anno_{annotator}" / video)
            merged.append(video)
        summary: dict[str, Any] = {
            "annotator_folders": [f"anno_{a}" for a in range(ANNOTATORS)] if merged else []
        }
        scored = [video for video in merged if video in self._ground_truth]
        if scored:
            summary["davis2017"] = self._davis2017(out_dir, scored)
        return summary

    def _davis2017(self, out_dir: Path, videos: Sequence[str]) -> dict[str, Any]:
        """J, F and J&F of each ``anno_<a>`` folder by the DAVIS 2017 unsupervised rules, and
        their means over the annotators."""
        per_annotator = []
        for annotator in range(ANNOTATORS):
            scores = []
            for video in videos:
                paths = self._ground_truth[video]
                truth = np.stack([_palette_ids(path) for path in paths])
                folder = out_dir / f"anno_{annotator}" / video
                merged = np.stack([_palette_ids(folder / path.name) for path in paths])
                scores += unsupervised_scores(merged, truth)
            j = float(np.mean([j for j, _ in scores])) if scores else 0.0
            f = float(np.mean([f for _, f in scores])) if scores else 0.0
            per_annotator.append({"J": j, "F": f, "J&F": (j + f) / 2, "objects": len(scores)})
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
        target.mkdir(parents=True, exist_ok=True)
        for path in objects[0].frame_paths:
            name = f"{path.name.split('.')[0]}.png"
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


def unsupervised_scores(merged: np.ndarray, truth: np.ndarray) -> list[tuple[float, float]]:
    """(J, F) of each ground-truth object of one video by the DAVIS 2017 unsupervised rules.

    ``merged`` and ``truth`` are (T, H, W) object ids. The ground truth's objects are 1 ... its
    first frame's largest id (255 is void: left out of every frame's score), the merged objects
    1 ... the largest id anywhere, with empty ones added up to the ground truth's count. Each
    ground-truth object is paired with a distinct merged object so that the sum of the pairs'
    mean (J + F) / 2 over the frames is largest, and scored by its pair's mean J and F.
    """
    void = truth == VOID
    keep = ~void
    gt_count = int(np.where(void[0], 0, truth[0]).max())
    res_count = max(int(merged.max()), gt_count)
    pairs = np.zeros((res_count, gt_count, 2))
    for r in range(res_count):
        for g in range(gt_count):
            pairs[r, g] = sequence_scores((merged == r + 1) & keep, (truth == g + 1) & keep)
    matched = _best_pairs(pairs.mean(axis=2))
    return [tuple(pairs[r, g]) for r, g in matched]


def _best_pairs(scores: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs, one per column of (R, C) ``scores`` with R >= C, distinct rows, of
    the largest sum (the Hungarian algorithm), in row order as ``linear_sum_assignment`` gives
    them."""
    rows, columns = scores.shape
    cost = -scores.T  # columns are matched one by one
    u, v = np.zeros(columns + 1), np.zeros(rows + 1)
    owner = np.zeros(rows + 1, dtype=int)  # owner[r]: 1 + the column matched to row r - 1
    way = np.zeros(rows + 1, dtype=int)
    for column in range(1, columns + 1):
        owner[0], free = column, 0
        least = np.full(rows + 1, np.inf)
        used = np.zeros(rows + 1, dtype=bool)
        while owner[free]:
            used[free] = True
            current, delta, nearest = owner[free], np.inf, 0
            for row in range(1, rows + 1):
                if used[row]:
                    continue
                reduced = cost[current - 1, row - 1] - u[current] - v[row]
                if reduced < least[row]:
                    least[row], way[row] = reduced, free
                if least[row] < delta:
                    delta, nearest = least[row], row
            u[owner[used]] += delta
            v[used] -= delta
            least[~used] -= delta
            free = nearest
        while free:
            previous = way[free]
            owner[free] = owner[previous]
            free = previous
    return [(row - 1, owner[row] - 1) for row in range(1, rows + 1) if owner[row]]


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
