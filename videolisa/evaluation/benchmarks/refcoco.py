"""refCOCO, refCOCO+ and refCOCOg in LISA's ``refer_seg`` layout, as published: the REFER
toolkit's ``DATA/<dataset>/refs(<splitBy>).p`` (a pickled list of references, each a dict with
``ref_id``, ``ann_id``, ``image_id``, ``category_id``, ``split``, ``file_name``, ``sent_ids`` and
``sentences``: dicts with ``sent_id``, ``sent``, ``raw`` and ``tokens``),
``DATA/<dataset>/instances.json`` (COCO ``images``, ``annotations`` and ``categories``) and the
images ``DATA/images/mscoco/images/train2014/<file_name>``.

As the published ``evaluation/eval_img/val.py`` reads them (``--val_dataset
refcoco|unc|testA`` and the like; LISA's ``REFER`` and ``RefImgValDataset``): the references of
the split (``getRefIds``: ``testA`` also takes ``testAB``, ``test`` every test split), every
sentence of each (stripped, lower-cased) asked as a phrase about its image. Here an item is an
image with all its sentences, so the image is encoded once. The ground truth is the COCO
annotation decoded with pycocotools at the size ``instances.json`` gives the image, summed over
its parts, and its pixels of value 1 the target; a prediction of another size (an image turned by
its EXIF tag) is resized to it, nearest pixel, as the published model resizes its mask to the
ground truth's size. Predictions go to ``OUT/predictions/<image_id>/<n>.png``, n the sentence's
place among the image's (the published script writes none); scores are gIoU and cIoU over the
sentences (:mod:`videolisa.evaluation.image_iou`).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings, read_json
from videolisa.evaluation.benchmarks.image import image_masks
from videolisa.evaluation.image_iou import giou_ciou, intersection_union
from videolisa.evaluation.prompts import image_question
from videolisa.video import write_mask_png

IMAGE_FOLDER = Path("images") / "mscoco" / "images" / "train2014"
DATASETS = ("refcoco", "refcoco+", "refcocog")  # the REFER datasets of COCO images


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
        size = (image["height"], image["width"])
        counts = []
        for number, ((_, ann_id), pred) in enumerate(zip(sentences, preds, strict=True)):
            write_mask_png(folder / f"{number}.png", pred)
            target = annotation_target(self.annotations[ann_id], *size)
            counts.append(list(intersection_union(_resized(pred, size), target)))
        return {"key": str(image["id"]), "answers": answers, "counts": counts}

    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        giou, ciou = giou_ciou([tuple(c) for r in records for c in r["counts"]])
        sentences = sum(len(r["counts"]) for r in records)
        return {"images": len(records), "sentences": sentences, "gIoU": giou, "cIoU": ciou}

    def headline(self, records: Sequence[Record]) -> str:
        giou, ciou = giou_ciou([tuple(c) for r in records for c in r["counts"]])
        return f"gIoU {giou:.4f} cIoU {ciou:.4f}"


def load(data: Path, out_dir: Path, refer_split: str) -> RefCocoBenchmark:
    """The images of ``refer_split`` (``dataset|splitBy|split``, e.g. ``refcoco|unc|val``) under
    the ``refer_seg`` folder ``data``."""
    try:
        dataset, split_by, name = refer_split.split("|")
    except ValueError as error:
        raise UserInputError(
            f"--refer-split {refer_split!r} is not dataset|splitBy|split.",
            "E.g. refcoco|unc|val.",
        ) from error
    if dataset not in DATASETS:
        raise UserInputError(
            f"--refer-split names the dataset {dataset!r}.", f"Use one of {', '.join(DATASETS)}."
        )
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
    unknown = {ref["image_id"] for ref in refs} - {image["id"] for image in images}
    unknown |= {ref["ann_id"] for ref in refs} - annotations.keys()
    if unknown:
        raise UserInputError(
            f"References of {refs_path} name images or annotations that {dataset}/instances.json "
            f"lacks (ids {sorted(unknown)[:5]}).",
            "Use the refs and instances.json of one refer_seg download.",
        )
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


def _resized(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``mask`` at (height, width) ``size``, nearest pixel; itself when it has that size."""
    if mask.shape == size:
        return mask
    image = Image.fromarray(mask).resize(size[::-1], Image.Resampling.NEAREST)
    return np.asarray(image)


def _in_split(ref_split: str, split: str) -> bool:
    """The REFER toolkit's ``getRefIds(split=...)`` rule."""
    if split in ("testA", "testB", "testC"):
        return split[-1] in ref_split
    if split == "test":
        return "test" in ref_split
    return ref_split == split
