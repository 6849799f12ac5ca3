"""Hand-made ReasonVOS and MeViS folders in the published on-disk formats, with predictions.

The expected scores in the tests were printed by the published scorers themselves, run outside the
project on folders these functions wrote (see ``tests/evaluation/test_published_scores.py``)::

    python -c "from tests.evaluation.published_masks import *; write_reasonvos(Path('/tmp/rv'))"
    cd <showlab/VideoLISA>/evaluation/reason_vos && python eval_reason_vos.py \\
        --meta_exp_path /tmp/rv/meta_expressions.json --mask_path /tmp/rv/Annotations \\
        --pred_path /tmp/rv/pred --save_name /tmp/rv/result.json
    python -c "from tests.evaluation.published_masks import *; write_mevis(Path('/tmp/mv'))"
    cd <showlab/VideoLISA>/evaluation/mevis_val_u && python eval_mevis.py \\
        --mevis_exp_path /tmp/mv/meta_expressions.json --mevis_mask_path /tmp/mv/mask_dict.json \\
        --mevis_pred_path /tmp/mv/pred --save_name /tmp/mv/result.json
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Shape = Callable[[int], np.ndarray]  # frame index -> (H, W) bool mask


def ellipse(hw: tuple[int, int], cy: float, cx: float, ry: float, rx: float, dx: float = 0.0):
    """An ellipse moving ``dx`` pixels to the right per frame."""
    ys, xs = np.mgrid[: hw[0], : hw[1]]
    return lambda t: ((ys - cy) / ry) ** 2 + ((xs - cx - dx * t) / rx) ** 2 <= 1


def box(hw: tuple[int, int], top: int, left: int, height: int, width: int, dy: int = 0):
    """A rectangle moving ``dy`` pixels down per frame."""

    def mask(t: int) -> np.ndarray:
        out = np.zeros(hw, dtype=bool)
        out[top + dy * t : top + dy * t + height, left : left + width] = True
        return out

    return mask


def save_grey(path: Path, mask: np.ndarray) -> None:
    """A 0/255 8-bit grey PNG, as ``cv2.imwrite(path, mask * 255)`` writes predictions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def save_palette(path: Path, mask: np.ndarray, colour: tuple[int, int, int] = (128, 0, 0)) -> None:
    """A DAVIS-style palette PNG: index 0 black, index 1 drawn in ``colour``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(mask.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, *colour])
    image.save(path)


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of an (H, W) bool mask, as pycocotools' ``mask.encode`` writes it into
    MeViS's ``mask_dict.json`` (``counts`` as a str)."""
    flat = mask.T.reshape(-1)
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = [0, *changes.tolist(), flat.size]
    runs = [b - a for a, b in itertools.pairwise(bounds)]
    if flat[0]:
        runs = [0, *runs]
    out = []
    for i, value in enumerate(runs):
        x = value - runs[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + 48 + (0x20 if more else 0)))
    return {"size": list(mask.shape), "counts": "".join(out)}


def write_json(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1), encoding="utf-8")
    return path


def write_reasonvos(root: Path) -> dict[str, Path]:
    """A ReasonVOS folder as ``evaluation/reason_vos/eval_reason_vos.py`` (``__main__``,
    ``eval_queue``) and ``inference_reason_vos.py`` read it, with predictions.

    ``meta_expressions.json`` lists each video's expressions as a list of samples
    ``{"obj_id": int, "exp_id": int, "exp_text": str, "is_sent": bool}`` (the published scripts
    index ``sample['obj_id']`` etc. while iterating ``vid['expressions']``); ground truth is
    ``Annotations/<source>_<video>_<obj_id>/<frame>.png``; predictions
    ``pred/<vid_key>/<exp_id>/<frame>.png`` as the inference script writes them.

    Holds: two expressions of one object (mose_cat_1, exp 0 and 1) with their own predictions; a
    missing prediction folder (mose_cat_5_3); an expression missing one predicted frame
    (burst_dog_4_1); palette ground truth (cat; the sofa's in a nearly black colour that reads as
    background) and grey ground truth (dog); palette and grey predictions; frames of odd size
    (cat: 37x53); an empty ground-truth frame and an empty prediction.
    """
    cat, dog = (37, 53), (24, 32)
    meta = {
        "videos": {
            "cat": {
                "source": "mose",
                "frames": [f"{t:05d}" for t in range(6)],
                "expressions": [
                    {"obj_id": 1, "exp_id": 0, "exp_text": "the grey cat", "is_sent": False},
                    {
                        "obj_id": 1,
                        "exp_id": 1,
                        "exp_text": "Which animal walks towards the door?",
                        "is_sent": True,
                    },
                    {"obj_id": 2, "exp_id": 2, "exp_text": "the sofa", "is_sent": False},
                    {"obj_id": 5, "exp_id": 3, "exp_text": "the lamp", "is_sent": False},
                ],
            },
            "dog": {
                "source": "burst",
                "frames": [f"{t:05d}" for t in range(4)],
                "expressions": [
                    {"obj_id": 3, "exp_id": 0, "exp_text": "the ball", "is_sent": False},
                    {
                        "obj_id": 4,
                        "exp_id": 1,
                        "exp_text": "What does the dog chase",
                        "is_sent": True,
                    },
                ],
            },
        }
    }
    gt_root, pred_root = root / "Annotations", root / "pred"
    cat_gt = ellipse(cat, 18, 10, 7, 6, dx=5)
    sofa = box(cat, 25, 30, 10, 20)
    ball = ellipse(dog, 12, 8, 3, 3, dx=4)
    for t in range(6):
        save_palette(gt_root / "mose_cat_1" / f"{t:05d}.png", cat_gt(t))
        # The sofa's palette colour (2, 0, 0) is grey level 0 when read as grey: background.
        save_palette(gt_root / "mose_cat_2" / f"{t:05d}.png", sofa(t), colour=(2, 0, 0))
        save_grey(gt_root / "mose_cat_5" / f"{t:05d}.png", box(cat, 2, 40, 8, 4)(t))
        save_grey(pred_root / "mose_cat_2/2" / f"{t:05d}.png", box(cat, 24, 31, 10, 18)(t))
        save_grey(pred_root / "mose_cat_1/0" / f"{t:05d}.png", ellipse(cat, 19, 11, 7, 7, dx=5)(t))
        shifted = ellipse(cat, 17, 14, 6, 6, dx=4)(t) if t != 3 else np.zeros(cat, bool)
        save_palette(pred_root / "mose_cat_1/1" / f"{t:05d}.png", shifted, colour=(0, 200, 0))
    for t in range(4):
        save_grey(gt_root / "burst_dog_3" / f"{t:05d}.png", ball(t) if t else np.zeros(dog, bool))
        save_grey(gt_root / "burst_dog_4" / f"{t:05d}.png", box(dog, 2, 20, 6, 8, dy=4)(t))
        save_grey(pred_root / "burst_dog_3/0" / f"{t:05d}.png", ellipse(dog, 12, 9, 4, 3, dx=4)(t))
        if t != 2:
            save_grey(pred_root / "burst_dog_4/1" / f"{t:05d}.png", box(dog, 3, 19, 6, 9, dy=4)(t))
    return {
        "gt": gt_root,
        "pred": pred_root,
        "meta": write_json(root / "meta_expressions.json", meta),
    }


def write_mevis(root: Path) -> dict[str, Path]:
    """A MeViS valid_u folder as ``evaluation/mevis_val_u/eval_mevis.py`` (``__main__``,
    ``eval_queue``) reads it, with predictions.

    ``meta_expressions.json``: ``{"videos": {video: {"frames": [str], "expressions": {exp_id:
    {"exp": str, "obj_id": [int], "anno_id": [str]}}}}}`` (an object keyed by expression id;
    ``vid['expressions'][exp]['anno_id']``); ``mask_dict.json``: ``{anno_id: [COCO RLE or None per
    frame]}`` (``mask_dict[str(anno_id)][frame_idx]``, decoded by pycocotools); predictions
    ``pred/<video>/<exp_id>/<frame>.png``.

    Holds: an expression that is the union of two overlapping objects (m0/1); an expression folder
    missing (m0/2); a video folder missing (m1); a missing frame that is not the first (m2/0);
    frames with no annotation (None); odd frame sizes (m0: 29x41).
    """
    m0, m2 = (29, 41), (20, 24)
    person = ellipse(m0, 14, 8, 6, 5, dx=3)
    bike = box(m0, 10, 10, 12, 14)
    car = box(m2, 4, 2, 8, 10, dy=2)
    mask_dict = {
        "100": [encode_rle(person(t)) for t in range(5)],
        "101": [encode_rle(bike(t)) if t < 3 else None for t in range(5)],
        "102": [encode_rle(box(m0, 0, 30, 5, 5)(t)) for t in range(5)],
        "110": [encode_rle(box((16, 16), 4, 4, 5, 5)(t)) for t in range(2)],
        "120": [encode_rle(car(t)) for t in range(4)],
        "121": [None, None, encode_rle(box(m2, 15, 15, 3, 3)(2)), None],
    }
    frames = {"m0": 5, "m1": 2, "m2": 4}
    meta = {
        "videos": {
            "m0": {
                "frames": [f"{t:05d}" for t in range(frames["m0"])],
                "expressions": {
                    "0": {"exp": "the person on the left", "obj_id": [0], "anno_id": ["100"]},
                    "1": {
                        "exp": "the person and the bike",
                        "obj_id": [0, 1],
                        "anno_id": ["100", "101"],
                    },
                    "2": {"exp": "the sign", "obj_id": [2], "anno_id": ["102"]},
                },
            },
            "m1": {
                "frames": [f"{t:05d}" for t in range(frames["m1"])],
                "expressions": {"0": {"exp": "the cup", "obj_id": [0], "anno_id": ["110"]}},
            },
            "m2": {
                "frames": [f"{t:05d}" for t in range(frames["m2"])],
                "expressions": {
                    "0": {"exp": "the moving car", "obj_id": [0], "anno_id": ["120"]},
                    "1": {"exp": "the small light", "obj_id": [1], "anno_id": ["121"]},
                },
            },
        }
    }
    pred = root / "pred"
    for t in range(5):
        save_grey(pred / "m0/0" / f"{t:05d}.png", ellipse(m0, 15, 9, 6, 6, dx=3)(t))
        save_grey(pred / "m0/1" / f"{t:05d}.png", person(t) | box(m0, 11, 9, 12, 13)(t))
    for t in range(4):
        if t != 1:
            save_grey(pred / "m2/0" / f"{t:05d}.png", car(t))
        save_grey(
            pred / "m2/1" / f"{t:05d}.png",
            box(m2, 14, 15, 3, 4)(t) if t == 2 else np.zeros(m2, bool),
        )
    return {
        "gt": write_json(root / "mask_dict.json", mask_dict),
        "pred": pred,
        "meta": write_json(root / "meta_expressions.json", meta),
    }
