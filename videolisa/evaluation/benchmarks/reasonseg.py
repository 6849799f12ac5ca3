"""ReasonSeg (LISA), one split folder as published: ``DATA/<name>.jpg`` and beside each its
LabelMe-style ``DATA/<name>.json``, ``{"text": [str, ...], "is_sentence": bool, "shapes":
[{"label": str, "points": [[x, y], ...], ...}, ...], ...}`` (UTF-8, or cp1252 where that fails).

As the published ``evaluation/eval_img/val.py`` reads it (``--val_dataset ReasonSeg|val``, LISA's
``utils/dataset.py`` and ``get_mask_from_json`` of ``utils/data_processing.py``): every ``.jpg``
is an item, asked its first text (a sentence or a phrase by ``is_sentence``) with the image as
the whole video. The ground truth is drawn on the image as OpenCV draws it
(:mod:`videolisa.evaluation.polygons`): shapes labelled ``flag`` are dropped, the others are
filled largest first (points truncated to integers), those whose label contains ``ignore`` as
ignored pixels and the rest as the target. Predictions go to ``OUT/predictions/<name>.png`` (the
published script writes none); scores are gIoU and cIoU (:mod:`videolisa.evaluation.image_iou`).
The published ``ReasonSeg|<split>|short`` / ``long`` subsets (phrases / sentences only) are not
offered: pass a folder holding just those images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings
from videolisa.evaluation.benchmarks.image import image_masks
from videolisa.evaluation.image_iou import giou_ciou, intersection_union
from videolisa.evaluation.polygons import fill_polygon
from videolisa.evaluation.prompts import image_question
from videolisa.video import write_mask_png

_TARGET, _IGNORE = 1, 255


class ReasonSegBenchmark(Benchmark):
    """The images of a ReasonSeg split, in file-name order."""

    name = "reasonseg"

    def __init__(self, images: Sequence[Path]) -> None:
        self.images = list(images)

    def keys(self) -> list[str]:
        return [path.stem for path in self.images]

    def run_item(self, index, pipeline, out_dir: Path, settings: RunSettings) -> Record:
        path = self.images[index]
        text, is_sentence, shapes = read_annotation(path.with_suffix(".json"))
        (answer,), (pred,) = image_masks(
            pipeline, path, [image_question(text, is_sentence)], settings
        )
        labels = polygon_labels(shapes, *pred.shape)
        folder = out_dir / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        write_mask_png(folder / f"{path.stem}.png", pred)
        intersection, union = intersection_union(pred, labels == _TARGET, labels == _IGNORE)
        return {
            "key": path.stem,
            "answer": answer,
            "intersection": intersection,
            "union": union,
        }

    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        giou, ciou = giou_ciou([(r["intersection"], r["union"]) for r in records])
        per_image = {r["key"]: [r["intersection"], r["union"]] for r in records}
        return {"images": len(records), "gIoU": giou, "cIoU": ciou, "per_image": per_image}

    def headline(self, records: Sequence[Record]) -> str:
        giou, ciou = giou_ciou([(r["intersection"], r["union"]) for r in records])
        return f"gIoU {giou:.4f} cIoU {ciou:.4f}"


def load(data: Path, out_dir: Path) -> ReasonSegBenchmark:
    """Every ``.jpg`` of the ReasonSeg split folder ``data``; each must have its ``.json``."""
    images = sorted(data.glob("*.jpg"))
    if not images:
        raise UserInputError(f"No .jpg images in {data}.", "Pass a ReasonSeg split folder.")
    unannotated = [path.name for path in images if not path.with_suffix(".json").is_file()]
    if unannotated:
        raise UserInputError(
            f"{len(unannotated)} images of {data} have no .json annotation beside them, e.g. "
            f"{unannotated[0]}.",
            "Pass a ReasonSeg split folder as published (each image with its .json).",
        )
    return ReasonSegBenchmark(images)


def read_annotation(path: Path) -> tuple[str, bool, list[dict[str, Any]]]:
    """(first text, is_sentence, shapes) of a ReasonSeg annotation, read as UTF-8 or, where that
    fails, as cp1252 (as LISA's ``get_mask_from_json`` does)."""
    try:
        raw = path.read_bytes()
        try:
            annotation = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            annotation = json.loads(raw.decode("cp1252"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"Cannot read {path}: {error}.", "Pass a ReasonSeg split.") from error
    try:
        text, is_sentence = annotation["text"][0], annotation["is_sentence"]
        shapes = list(annotation["shapes"])
    except (KeyError, IndexError, TypeError) as error:
        raise UserInputError(
            f"{path} lacks a text list, is_sentence or shapes.", "Pass a ReasonSeg split folder."
        ) from error
    if not isinstance(text, str) or not all(
        isinstance(s, dict) and isinstance(s.get("label"), str) for s in shapes
    ):
        raise UserInputError(
            f"{path} has a text or a shape label that is not a string.", "Pass a ReasonSeg split."
        )
    return text, bool(is_sentence), shapes


def polygon_labels(shapes: Sequence[dict[str, Any]], height: int, width: int) -> np.ndarray:
    """(H, W) uint8 labels: 1 target, 255 ignored, 0 background.

    The polygons are drawn in decreasing order of their filled area; of equal areas the later
    shape first, as ``np.argsort(areas)[::-1]`` orders them for the few shapes of an image.
    """
    masks, values = [], []
    for shape in shapes:
        label = shape["label"].lower()
        if label == "flag":  # deprecated annotations
            continue
        mask = np.zeros((height, width), dtype=np.uint8)
        fill_polygon(mask, _truncated(shape["points"]), 1)
        masks.append(mask.astype(bool))
        values.append(_IGNORE if "ignore" in label else _TARGET)
    areas = [int(np.count_nonzero(mask)) for mask in masks]
    labels = np.zeros((height, width), dtype=np.uint8)
    for index in np.argsort(areas, kind="stable")[::-1]:
        labels[masks[index]] = values[index]
    return labels


def _truncated(points: Any) -> np.ndarray:
    """(N, 2) int32 vertices, each coordinate truncated towards zero as OpenCV's int32 cast."""
    try:
        vertices = np.asarray(points, dtype=np.float64).astype(np.int32)
    except (TypeError, ValueError) as error:
        raise UserInputError(
            f"A ReasonSeg shape has points {points!r}, not [[x, y], ...].", "Check the .json."
        ) from error
    if vertices.ndim != 2 or vertices.shape[1] != 2 or not len(vertices):
        raise UserInputError(
            f"A ReasonSeg shape has points {points!r}, not [[x, y], ...].", "Check the .json."
        )
    return vertices
