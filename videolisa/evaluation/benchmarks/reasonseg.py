"""ReasonSeg (LISA), one split folder: ``DATA/<name>.jpg`` with ``DATA/<name>.json`` holding
``{"text": [...], "is_sentence": bool, "shapes": [{"label", "points": [[x, y], ...]}]}``.

As in the published evaluation, each image is asked about with its first text; the image is the
whole video (one frame, repeated to fill the sparse and dense frames). The ground truth is drawn
as LISA's ``get_mask_from_json`` draws it: polygons labelled ``flag`` are dropped, the rest are
filled largest first, ``ignore`` polygons as ignored pixels and the others as the target (points
truncated to integers; PIL fills them, where LISA uses OpenCV, so edge pixels may differ).
Predictions go to ``OUT/predictions/<name>.png``; scores are gIoU and cIoU
(:mod:`videolisa.evaluation.image_iou`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings, read_json
from videolisa.evaluation.benchmarks.image import image_masks
from videolisa.evaluation.image_iou import giou_ciou, intersection_union
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
        annotation = read_json(
            path.with_suffix(".json"), f"the annotation of {path.name} in --data"
        )
        try:
            text, is_sentence = annotation["text"][0], bool(annotation["is_sentence"])
            shapes = annotation["shapes"]
        except (KeyError, IndexError, TypeError) as error:
            raise UserInputError(
                f"{path.with_suffix('.json')} lacks text, is_sentence or shapes.",
                "Pass a ReasonSeg split folder.",
            ) from error
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
    """The annotated images of the ReasonSeg split folder ``data``."""
    images = sorted(p for p in data.glob("*.jpg") if p.with_suffix(".json").is_file())
    if not images:
        raise UserInputError(f"No .jpg with a .json annotation in {data}.", "Pass ReasonSeg/val.")
    return ReasonSegBenchmark(images)


def polygon_labels(shapes: Sequence[dict[str, Any]], height: int, width: int) -> np.ndarray:
    """(H, W) uint8 labels: 1 target, 255 ignored, 0 background, drawn largest polygon first."""
    polygons = []
    for shape in shapes:
        label = str(shape["label"]).lower()
        if label == "flag":
            continue
        points = [tuple(int(v) for v in p) for p in np.asarray(shape["points"], dtype=np.int32)]
        value = _IGNORE if "ignore" in label else _TARGET
        polygons.append((int(np.count_nonzero(_fill(points, 1, height, width))), points, value))
    labels = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(labels)
    for _, points, value in sorted(polygons, key=lambda p: p[0], reverse=True):
        draw.polygon(points, fill=value, outline=value)
    return np.asarray(labels)


def _fill(points: list[tuple[int, ...]], value: int, height: int, width: int) -> np.ndarray:
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).polygon(points, fill=value, outline=value)
    return np.asarray(image)
