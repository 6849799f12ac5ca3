"""refCOCO, refCOCO+ and refCOCOg in LISA's ``refer_seg`` layout: ``DATA/<dataset>/refs(<by>).p``
(the REFER toolkit's pickled references: ``ref_id``, ``ann_id``, ``image_id``, ``split``,
``sentences``), ``DATA/<dataset>/instances.json`` (COCO images and annotations) and the images
``DATA/images/mscoco/images/train2014/<file_name>``.

As in the published evaluation, an item is an image with every sentence of every reference to it
in the split (stripped, lower-cased), each asked as a phrase; the ground truth is the COCO
annotation decoded with pycocotools, summed over its polygons, and its pixels of value 1 the
target. Predictions go to ``OUT/predictions/<image_id>/<sentence>.png``; scores are gIoU and cIoU
over the sentences (:mod:`videolisa.evaluation.image_iou`).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings, read_json
from videolisa.evaluation.benchmarks.image import image_masks
from videolisa.evaluation.image_iou import giou_ciou, intersection_union
from videolisa.evaluation.prompts import image_question
from videolisa.video import write_mask_png

IMAGE_FOLDER = Path("images") / "mscoco" / "images" / "train2014"


class RefCocoBenchmark(Benchmark):
    """The images of one refCOCO-family split, by image id."""

    name = "refcoco"

    def __init__(
        self,
        images: Sequence[dict[str, Any]],
        sentences: dict[int, list[tuple[str, int]]],
        annotations: dict[int, dict[str, Any]],
        image_folder: Path,
    ) -> None:
        self.images = list(images)
        self.sentences = sentences
        self.annotations = annotations
        self.image_folder = image_folder

    def keys(self) -> list[str]:
        return [str(image["id"]) for image in self.images]

    def run_item(self, index, pipeline, out_dir: Path, settings: RunSettings) -> Record:
        image = self.images[index]
        sentences = self.sentences[image["id"]]
        questions = [image_question(sentence, False) for sentence, _ in sentences]
        path = self.image_folder / image["file_name"]
        answers, preds = image_masks(pipeline, path, questions, settings)
        folder = out_dir / "predictions" / str(image["id"])
        folder.mkdir(parents=True, exist_ok=True)
        counts = []
        for number, ((_, ann_id), pred) in enumerate(zip(sentences, preds, strict=True)):
            write_mask_png(folder / f"{number}.png", pred)
            target = annotation_target(self.annotations[ann_id], *pred.shape)
            counts.append(list(intersection_union(pred, target)))
        return {"key": str(image["id"]), "answers": answers, "counts": counts}

    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        giou, ciou = giou_ciou([tuple(c) for r in records for c in r["counts"]])
        sentences = sum(len(r["counts"]) for r in records)
        return {"images": len(records), "sentences": sentences, "gIoU": giou, "cIoU": ciou}

    def headline(self, records: Sequence[Record]) -> str:
        giou, ciou = giou_ciou([tuple(c) for r in records for c in r["counts"]])
        return f"gIoU {giou:.4f} cIoU {ciou:.4f}"


def load(data: Path, out_dir: Path, split: str) -> RefCocoBenchmark:
    """The images of ``split`` (``dataset|splitBy|split``, e.g. ``refcoco|unc|val``) under the
    ``refer_seg`` folder ``data``."""
    try:
        dataset, split_by, name = split.split("|")
    except ValueError as error:
        raise UserInputError(
            f"--refer-split {split!r} is not dataset|splitBy|split.", "E.g. refcoco|unc|val."
        ) from error
    refs_path = data / dataset / f"refs({split_by}).p"
    try:
        with refs_path.open("rb") as file:
            refs = pickle.load(file)  # the REFER toolkit's own format
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise UserInputError(f"Cannot read {refs_path}: {error}.", "Pass refer_seg.") from error
    instances = read_json(data / dataset / "instances.json", f"{dataset}/instances.json in --data")
    refs = [ref for ref in refs if _in_split(ref["split"], name)]
    if not refs:
        raise UserInputError(f"{refs_path} has no references in split {name!r}.", "Check it.")
    sentences: dict[int, list[tuple[str, int]]] = {}
    for ref in refs:
        sentences.setdefault(ref["image_id"], []).extend(
            (sentence["sent"].strip().lower(), ref["ann_id"]) for sentence in ref["sentences"]
        )
    images = sorted(
        (image for image in instances["images"] if image["id"] in sentences),
        key=lambda image: image["id"],
    )
    annotations = {ann["id"]: ann for ann in instances["annotations"]}
    return RefCocoBenchmark(images, sentences, annotations, data / IMAGE_FOLDER)


def annotation_target(annotation: dict[str, Any], height: int, width: int) -> np.ndarray:
    """(H, W) bool target of a COCO annotation: where the sum of its decoded parts is 1."""
    segmentation = annotation["segmentation"]
    if not segmentation:
        return np.zeros((height, width), dtype=bool)
    if isinstance(segmentation, dict):
        segmentation = [segmentation]
    if isinstance(segmentation[0], list):  # polygons
        rles = coco_mask.frPyObjects(segmentation, height, width)
    else:
        rles = [
            {**rle, "counts": rle["counts"].encode()} if isinstance(rle["counts"], str) else rle
            for rle in segmentation
        ]
    decoded = coco_mask.decode(rles)
    return decoded.sum(axis=2).astype(np.uint8) == 1


def _in_split(ref_split: str, split: str) -> bool:
    """The REFER toolkit's ``getRefIds(split=...)`` rule."""
    if split in ("testA", "testB", "testC"):
        return split[-1] in ref_split
    if split == "test":
        return "test" in ref_split
    return ref_split == split
