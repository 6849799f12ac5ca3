"""ReasonSeg and refCOCO: folders in the published layouts, read and scored as the published
``evaluation/eval_img/val.py`` reads and scores them, and ``python -m videolisa eval`` on them.

The expected numbers were printed by the published code's own functions, run outside the project
(numpy 1.23.5, opencv-python-headless 4.8.1, pycocotools, matplotlib and torch) on the folders
:func:`write_reasonseg` and :func:`write_refer_seg` write, with the hand-made predictions beside
them. ``val.py`` needs the model and a GPU, so only its reading and scoring ran: LISA's
``get_mask_from_json`` (``utils/data_processing.py``), ``REFER`` (``utils/refer.py``), the
sample and mask building of ``VideoValDataset`` (ReasonSeg) and ``RefImgValDataset`` (refCOCO)
written out as in ``utils/dataset.py``, each mask repeated over 4 dense frames
(``run_validate.sh``), and ``validate``'s loop with ``intersectionAndUnionGPU`` and
``AverageMeter`` (``utils/utils.py``; ``all_reduce`` on a one-process gloo group, and the masks
as float tensors since CPU ``histc`` takes no ints)::

    python -c "from pathlib import Path; from tests.evaluation.test_eval_images import *; \\
        write_reasonseg(Path('/tmp/img/ReasonSeg/val')); \\
        write_refer_seg(Path('/tmp/img/refer_seg'))"
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.evaluation.fixtures import box, golden_frames, run_eval, save_mask
from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks import reasonseg, refcoco
from videolisa.evaluation.benchmarks.image import read_upright_rgb
from videolisa.evaluation.image_iou import giou_ciou, intersection_union

HW = (40, 56)

# Printed by the published code (see the module docstring): per image the foreground
# (intersection, union) of one dense frame, and gIoU and cIoU of validate().
PUBLISHED_REASONSEG = {
    "per_image": {
        "0a4c8d7e2f1b3a5c": [625, 922],
        "1b5d9e8f3a2c4b6d": [196, 1251],
        "2c6e0f9a4b3d5c7e": [0, 0],
        "3d7f1a0b5c4e6d8f": [0, 936],
    },
    "gIoU": 0.45863693952560425,  # printed as "giou: 0.4586, ciou: 0.2641"
    "cIoU": 0.264072060585022,
}
PUBLISHED_REFCOCO_TESTA = {  # --val_dataset refcoco|unc|testA
    "samples": [
        [9, "the man on the left", 1001],
        [9, "left guy", 1001],
        [9, "man in blue on right", 1002],
        [25, "woman behind", 1003],
    ],
    "counts": [[472, 676], [210, 542], [504, 712], [0, 9]],
    "gIoU": 0.44838568568229675,  # printed as "giou: 0.4484, ciou: 0.6117"
    "cIoU": 0.6116554737091064,
}


@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    return golden_frames(golden_dir)


def _images(count: int, frames: np.ndarray | None) -> np.ndarray:
    if frames is not None:
        return frames[:count]
    return np.random.default_rng(0).integers(0, 255, (count, *HW, 3)).astype(np.uint8)


def _shape(label: str, points: list[list[float]]) -> dict:
    """A LabelMe polygon; LISA reads its ``label`` and ``points``."""
    return {
        "label": label,
        "points": points,
        "group_id": None,
        "shape_type": "polygon",
        "flags": {},
    }


# name -> (text list, is_sentence, shapes); the last is written as cp1252, the rest as UTF-8.
REASONSEG = {
    "0a4c8d7e2f1b3a5c": (
        ["What holds the food a cat would like to eat?", "the bowl"],
        True,
        [
            _shape("target", [[3.7, 4.2], [40.9, 6.0], [38.5, 30.8], [6.1, 27.3]]),
            _shape("ignore", [[12.0, 10.0], [20.6, 10.0], [20.6, 18.9], [12.0, 18.9]]),
            _shape("flag", [[0.0, 0.0], [55.0, 0.0], [55.0, 39.0]]),
        ],
    ),
    "1b5d9e8f3a2c4b6d": (
        ["the two dogs"],
        False,
        [
            _shape("target", [[30.2, 20.5], [52.8, 22.1], [47.3, 37.9]]),
            _shape("target", [[2.0, 2.0], [14.0, 2.0], [14.0, 12.0], [2.0, 12.0]]),
            # as large as the square above: drawn first (argsort's order, reversed), so under it
            _shape("Ignore_region", [[8.0, 6.0], [20.0, 6.0], [20.0, 16.0], [8.0, 16.0]]),
        ],
    ),
    "2c6e0f9a4b3d5c7e": (
        ["nothing here"],
        False,
        [_shape("flag", [[1.0, 1.0], [9.0, 1.0], [9.0, 9.0]])],
    ),
    "3d7f1a0b5c4e6d8f": (
        ["Where would you put a café au lait?"],
        True,
        [_shape("target", [[10.5, 8.5], [45.5, 8.5], [45.5, 33.5], [10.5, 33.5]])],
    ),
}


def reasonseg_prediction(name: str) -> np.ndarray:
    """A hand-made prediction for a ReasonSeg image."""
    return {
        "0a4c8d7e2f1b3a5c": box(HW, 6, 8, 28, 30),
        "1b5d9e8f3a2c4b6d": box(HW, 4, 4, 30, 40),
        "2c6e0f9a4b3d5c7e": np.zeros(HW, dtype=bool),  # no object, nothing predicted: IoU 1
        "3d7f1a0b5c4e6d8f": np.zeros(HW, dtype=bool),
    }[name]


def write_reasonseg(folder: Path, frames: np.ndarray | None = None) -> None:
    """A ReasonSeg split folder as published and as ``val.py`` reads it (``VideoValDataset``,
    ``get_mask_from_json``): ``<name>.jpg`` with ``<name>.json`` beside it, ``{"text": [...],
    "is_sentence", "shapes": [LabelMe polygons]}``; a file LISA reads only as cp1252 among them.
    The hand-made predictions go to ``folder/../pred/<name>.png`` (0/255)."""
    folder.mkdir(parents=True)
    for (name, (text, is_sentence, shapes)), image in zip(
        REASONSEG.items(), _images(len(REASONSEG), frames), strict=True
    ):
        Image.fromarray(image).save(folder / f"{name}.jpg", quality=95)
        content = json.dumps({"text": text, "is_sentence": is_sentence, "shapes": shapes})
        encoding = "cp1252" if "café" in text[0] else "utf-8"
        (folder / f"{name}.json").write_bytes(content.encode(encoding))
        save_mask(folder.parent / "pred" / f"{name}.png", reasonseg_prediction(name))


def _polygon(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """A COCO polygon part, [x, y, x, y, ...], of a rectangle."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


COCO_IMAGES = [9, 25, 30]
COCO_ANNOTATIONS = {  # id -> (image_id, category_id, segmentation)
    1001: (9, 1, [_polygon(4, 4, 20.5, 30), _polygon(14, 10, 30, 24.5)]),  # parts overlap
    1002: (9, 1, [_polygon(30, 6, 50, 36)]),
    1003: (25, 18, []),  # no segmentation: an empty target
    1004: (30, 18, [_polygon(10, 10, 40, 30)]),
    1005: (25, 18, [_polygon(5, 5, 25, 25)]),
}
REFS = [  # (ref_id, ann_id, split, sentences)
    (0, 1001, "testA", [" The Man On The Left ", "left guy"]),
    (1, 1002, "testA", ["man in blue on right"]),
    (2, 1005, "testB", ["the dog"]),
    (3, 1003, "testA", ["woman behind"]),
    (4, 1004, "val", ["brown dog"]),
    (5, 1004, "train", ["dog"]),
]


def write_refer_seg(root: Path, frames: np.ndarray | None = None) -> None:
    """LISA's ``refer_seg`` folder for refCOCO as published and as ``val.py`` reads it
    (``REFER.__init__``/``createIndex``, ``RefImgValDataset``): ``refcoco/refs(unc).p``, the
    REFER toolkit's pickled list of references; ``refcoco/instances.json`` with COCO ``images``,
    ``annotations`` (polygon ``segmentation``) and ``categories``; the images in
    ``images/mscoco/images/train2014``. The hand-made predictions go to
    ``root/pred/<image_id>/<n>.png``, n the sentence's place among the image's."""
    images = root / "images" / "mscoco" / "images" / "train2014"
    images.mkdir(parents=True)
    (root / "refcoco").mkdir()
    coco_images = []
    for image_id, pixels in zip(COCO_IMAGES, _images(len(COCO_IMAGES), frames), strict=True):
        file_name = f"COCO_train2014_{image_id:012d}.jpg"
        Image.fromarray(pixels).save(images / file_name, quality=95)
        coco_images.append(
            {
                "license": 1,
                "file_name": file_name,
                "coco_url": "",
                "height": HW[0],
                "width": HW[1],
                "date_captured": "",
                "flickr_url": "",
                "id": image_id,
            }
        )
    annotations = [
        {
            "segmentation": segmentation,
            "area": 0.0,
            "iscrowd": 0,
            "image_id": image_id,
            "bbox": [0.0, 0.0, 0.0, 0.0],
            "category_id": category,
            "id": ann_id,
        }
        for ann_id, (image_id, category, segmentation) in COCO_ANNOTATIONS.items()
    ]
    categories = [
        {"supercategory": "person", "id": 1, "name": "person"},
        {"supercategory": "animal", "id": 18, "name": "dog"},
    ]
    instances = {"images": coco_images, "annotations": annotations, "categories": categories}
    (root / "refcoco" / "instances.json").write_text(json.dumps(instances))
    refs, sent_id = [], 0
    for ref_id, ann_id, split, texts in REFS:
        image_id, category, _ = COCO_ANNOTATIONS[ann_id]
        sentences = []
        for text in texts:
            sentences.append(
                {"tokens": text.split(), "raw": text, "sent_id": sent_id, "sent": text}
            )
            sent_id += 1
        refs.append(
            {
                "image_id": image_id,
                "split": split,
                "sentences": sentences,
                "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",
                "category_id": category,
                "ann_id": ann_id,
                "sent_ids": [s["sent_id"] for s in sentences],
                "ref_id": ref_id,
            }
        )
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    for image_id in COCO_IMAGES:
        asked = [
            text
            for _, ann_id, split, texts in REFS
            for text in texts
            if COCO_ANNOTATIONS[ann_id][0] == image_id and "A" in split
        ]
        for number in range(len(asked)):
            save_mask(
                root / "pred" / str(image_id) / f"{number}.png",
                refcoco_prediction(image_id, number),
            )


def refcoco_prediction(image_id: int, number: int) -> np.ndarray:
    """A hand-made prediction for sentence ``number`` of an image in testA."""
    return {
        (9, 0): box(HW, 4, 4, 26, 26),
        (9, 1): box(HW, 8, 2, 20, 14),
        (9, 2): box(HW, 6, 32, 28, 22),
        (25, 0): box(HW, 0, 0, 3, 3),  # the target is empty: IoU 0
    }[image_id, number]


def test_reasonseg_ground_truth_and_scores_equal_the_published(tmp_path):
    folder = tmp_path / "ReasonSeg" / "val"
    write_reasonseg(folder)
    counts = {}
    for path in reasonseg.load(folder, tmp_path / "out").images:
        text, is_sentence, shapes = reasonseg.read_annotation(path.with_suffix(".json"))
        assert (text, is_sentence) == (REASONSEG[path.stem][0][0], REASONSEG[path.stem][1])
        labels = reasonseg.polygon_labels(shapes, *HW)
        pred = reasonseg_prediction(path.stem)
        counts[path.stem] = list(intersection_union(pred, labels == 1, labels == 255))
    assert counts == PUBLISHED_REASONSEG["per_image"]
    summary = reasonseg.ReasonSegBenchmark([]).summarize(
        [{"key": k, "intersection": i, "union": u} for k, (i, u) in counts.items()]
    )
    assert summary["gIoU"] == pytest.approx(PUBLISHED_REASONSEG["gIoU"], abs=1e-6)
    assert summary["cIoU"] == pytest.approx(PUBLISHED_REASONSEG["cIoU"], abs=1e-6)


def test_refcoco_sentences_and_scores_equal_the_published(tmp_path):
    root = tmp_path / "refer_seg"
    write_refer_seg(root)
    benchmark = refcoco.load(root, tmp_path / "out", "refcoco|unc|testA")
    samples = [
        [image["id"], sentence, ann_id]
        for image in benchmark.images
        for sentence, ann_id in benchmark.sentences[image["id"]]
    ]
    # The published samples in RefImgValDataset's order (images in set order; the same here).
    assert sorted(samples) == sorted(PUBLISHED_REFCOCO_TESTA["samples"])
    counts = []
    for image in benchmark.images:
        for number, (_, ann_id) in enumerate(benchmark.sentences[image["id"]]):
            target = refcoco.annotation_target(benchmark.annotations[ann_id], *HW)
            pred = refcoco_prediction(image["id"], number)
            counts.append(list(intersection_union(pred, target)))
    assert sorted(counts) == sorted(PUBLISHED_REFCOCO_TESTA["counts"])
    summary = benchmark.summarize([{"counts": counts}])
    assert summary["sentences"] == len(PUBLISHED_REFCOCO_TESTA["samples"])
    assert summary["gIoU"] == pytest.approx(PUBLISHED_REFCOCO_TESTA["gIoU"], abs=1e-6)
    assert summary["cIoU"] == pytest.approx(PUBLISHED_REFCOCO_TESTA["cIoU"], abs=1e-6)


def test_reasonseg_eval(golden_dir, frames, tmp_path, encode_calls):
    folder = tmp_path / "val"
    write_reasonseg(folder, frames)
    summary = run_eval(golden_dir, "reasonseg", folder, tmp_path / "out", "--sam-batch", "1")
    sam_options = [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls]
    assert sam_options == [(1, 2 * 10**9)] * 4  # one encode per image; --max-memory 2GB
    assert summary["images"] == 4 and list(summary["per_image"]) == sorted(REASONSEG)
    # The ground truth of the image without a target is empty: its union is the prediction.
    prediction = np.asarray(Image.open(tmp_path / "out" / "predictions" / "2c6e0f9a4b3d5c7e.png"))
    assert prediction.shape == HW
    assert summary["per_image"]["2c6e0f9a4b3d5c7e"] == [0, int(np.count_nonzero(prediction))]
    assert 0 <= summary["gIoU"] <= 1 and 0 <= summary["cIoU"] <= 1


def test_refcoco_eval(golden_dir, frames, tmp_path):
    root = tmp_path / "refer_seg"
    write_refer_seg(root, frames)
    out = tmp_path / "out"
    summary = run_eval(golden_dir, "refcoco", root, out, "--refer-split", "refcoco|unc|testA")
    assert summary["items"] == 2 and summary["sentences"] == 4
    assert summary["settings"]["refer_split"] == "refcoco|unc|testA"
    assert sorted(p.name for p in (out / "predictions" / "9").iterdir()) == [
        "0.png",
        "1.png",
        "2.png",
    ]
    assert 0 <= summary["gIoU"] <= 1 and 0 <= summary["cIoU"] <= 1


def test_questions_as_published(tmp_path):
    folder = tmp_path / "val"
    write_reasonseg(folder)
    text, is_sentence, _ = reasonseg.read_annotation(folder / "3d7f1a0b5c4e6d8f.json")
    assert (text, is_sentence) == ("Where would you put a café au lait?", True)  # cp1252
    root = tmp_path / "refer_seg"
    write_refer_seg(root)
    benchmark = refcoco.load(root, tmp_path / "out", "refcoco|unc|testA")
    # RefImgValDataset: sent["sent"].strip().lower(); every sentence asked as a phrase.
    assert [s for s, _ in benchmark.sentences[9]] == [
        "the man on the left",
        "left guy",
        "man in blue on right",
    ]
    assert [s for s, _ in benchmark.sentences[25]] == ["woman behind"]


def test_reasonseg_images_need_their_annotation(tmp_path):
    folder = tmp_path / "val"
    write_reasonseg(folder)
    (folder / "1b5d9e8f3a2c4b6d.json").unlink()
    with pytest.raises(UserInputError, match=r"no \.json"):
        reasonseg.load(folder, tmp_path / "out")


def test_refcoco_needs_a_refcoco_dataset_and_known_ids(tmp_path):
    root = tmp_path / "refer_seg"
    write_refer_seg(root)
    with pytest.raises(UserInputError, match="refclef"):
        refcoco.load(root, tmp_path / "out", "refclef|unc|testA")
    instances = json.loads((root / "refcoco" / "instances.json").read_text())
    instances["annotations"] = instances["annotations"][1:]
    (root / "refcoco" / "instances.json").write_text(json.dumps(instances))
    with pytest.raises(UserInputError, match="1001"):
        refcoco.load(root, tmp_path / "out", "refcoco|unc|testA")


def test_images_are_read_upright_as_opencv_reads_them(tmp_path):
    pixels = np.zeros((20, 30, 3), dtype=np.uint8)
    pixels[:, :5] = 255  # a white band on the left
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # EXIF orientation: turn 90 degrees clockwise to view
    image.save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    upright = read_upright_rgb(tmp_path / "turned.jpg")
    assert upright.shape == (30, 20, 3)  # cv2.imread gives (30, 20, 3) too
    assert upright[:5].mean() > 200 and upright[10:].mean() < 50  # the band is on top


def test_giou_and_ciou_as_the_published_script_sums_them():
    pred = np.zeros((4, 4), dtype=bool)
    pred[:2] = True  # 8 pixels
    target = np.zeros((4, 4), dtype=bool)
    target[1:3] = True  # 8 pixels, 4 shared
    ignore = np.zeros((4, 4), dtype=bool)
    ignore[0, :2] = True  # 2 predicted pixels ignored
    assert intersection_union(pred, target) == (4, 12)
    assert intersection_union(pred, target, ignore) == (4, 10)
    empty = np.zeros((4, 4), dtype=bool)
    counts = [(4, 10), intersection_union(empty, empty)]  # no object, nothing predicted: IoU 1
    giou, ciou = giou_ciou(counts)
    # Each sample counted over 4 dense frames; AverageMeter's mean is sum / (count + 1e-5).
    assert giou == pytest.approx(4 * (4 / (10 + 1e-5) + 1.0) / (8 + 1e-5), rel=1e-12)
    assert ciou == pytest.approx(16 / (40 + 1e-10), rel=1e-12)


def test_reasonseg_polygons_largest_first_ignore_and_flag():
    shapes = [
        {"label": "ignore", "points": [[2, 2], [4, 2], [4, 4], [2, 4]]},
        {"label": "target", "points": [[0, 0], [7.9, 0], [7.9, 7.9], [0, 7.9]]},
        {"label": "flag", "points": [[0, 0], [9, 0], [9, 9]]},
    ]
    labels = reasonseg.polygon_labels(shapes, 10, 10)
    expected = np.zeros((10, 10), dtype=np.uint8)
    expected[:8, :8] = 1  # points truncated to 7, the outline included
    expected[2:5, 2:5] = 255  # the smaller polygon is drawn over the larger one
    assert np.array_equal(labels, expected)


def test_coco_targets_are_the_pixels_covered_once():
    overlapping = [
        [0.0, 0.0, 6.0, 0.0, 6.0, 6.0, 0.0, 6.0],
        [3.0, 3.0, 9.0, 3.0, 9.0, 9.0, 3.0, 9.0],
    ]
    target = refcoco.annotation_target({"segmentation": overlapping}, 12, 12)
    assert target[1, 1] and target[8, 8] and not target[4, 4] and not target[11, 11]
    assert not refcoco.annotation_target({"segmentation": []}, 12, 12).any()
