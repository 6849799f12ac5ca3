"""``python -m videolisa eval-masks`` on tiny ReasonVOS- and MeViS-layout benchmarks.

All masks are 5x7 (tolerance 1 pixel); each expected per-frame J and F is worked out by hand (see
the comments and tests/evaluation/test_metrics.py for the same cases).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videolisa.cli import main
from videolisa.evaluation.layouts import decode_rle

SHAPE = (5, 7)


def pixel(y: int, x: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[y, x] = True
    return mask


def left_columns(stop: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, :stop] = True
    return mask


EMPTY = np.zeros(SHAPE, dtype=bool)


def save_grey(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def save_palette(path: Path, mask: np.ndarray) -> None:
    """A DAVIS-style palette PNG: index 1 drawn in dark red."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(mask.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 0, 0])
    image.save(path)


def write_json(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.fixture
def reasonvos(tmp_path: Path) -> dict[str, Path]:
    """ReasonVOS as ``evaluation/reason_vos/eval_reason_vos.py`` (``__main__``, ``eval_queue``)
    reads it: ``expressions`` a list of ``{"obj_id", "exp_id", "exp_text", "is_sent"}`` samples,
    ground truth ``Annotations/<source>_<video>_<obj_id>/``, predictions
    ``pred/<vid_key>/<exp_id>/``. Expressions 0 and 1 of v1 are of one object (mose_v1_1), each
    with its own prediction folder."""
    gt, pred = tmp_path / "Annotations", tmp_path / "pred"
    sample = {"exp_text": "the cat", "is_sent": False}
    meta = {
        "videos": {
            "v1": {
                "source": "mose",
                "frames": ["00000", "00001"],
                "expressions": [
                    {**sample, "obj_id": 1, "exp_id": 0},
                    {**sample, "obj_id": 1, "exp_id": 1},
                    {**sample, "obj_id": 2, "exp_id": 2},
                ],
            },
            "v2": {
                "source": "burst",
                "frames": ["00000", "00001"],
                "expressions": [{**sample, "obj_id": 3, "exp_id": 0}],
            },
        }
    }
    ground_truth = {
        "mose_v1_1": [pixel(2, 2), pixel(2, 2)],
        "mose_v1_2": [left_columns(3), left_columns(3)],
        "burst_v2_3": [EMPTY, pixel(1, 1)],
    }
    predictions = {  # per frame, None for a missing file; burst_v2_3/0 is missing altogether
        "mose_v1_1/0": [pixel(2, 2), pixel(2, 4)],
        "mose_v1_1/1": [pixel(2, 2), pixel(2, 2)],
        "mose_v1_2/2": [left_columns(4), None],
    }
    for key, masks in ground_truth.items():
        for t, mask in enumerate(masks):
            save_palette(gt / key / f"{t:05d}.png", mask)
    for folder, masks in predictions.items():
        for t, mask in enumerate(masks):
            if mask is not None:
                save_grey(pred / folder / f"{t:05d}.png", mask)
    return {
        "gt": gt,
        "pred": pred,
        "meta": write_json(tmp_path / "meta_expressions.json", meta),
        "out": tmp_path / "report",
    }


def run_cli(paths: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "eval-masks",
            "--pred",
            str(paths["pred"]),
            "--gt",
            str(paths["gt"]),
            "--meta",
            str(paths["meta"]),
            "--out",
            str(paths["out"]),
            *extra,
        ]
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_reasonvos_layout_with_missing_masks_as_empty(reasonvos, workers, capsys, caplog):
    assert run_cli(reasonvos, "--workers", workers, "--missing", "empty") == 0

    # Per frame (J, F): identical pixels (1, 1); pixels two apart (0, 1/2).
    # 3 of 4 columns vs 3 columns (15/20, 1); missing prediction = empty (0, 0).
    # Whole folder missing: empty vs empty (1, 1), empty vs pixel (0, 0).
    expected = {
        "mose_v1_1_0": [0.5, 0.75],
        "mose_v1_1_1": [1.0, 1.0],
        "mose_v1_2_2": [0.375, 0.5],
        "burst_v2_3_0": [0.5, 0.5],
    }
    summary = json.loads((reasonvos["out"] / "summary.json").read_text())
    assert list(summary["per_expression"]) == list(expected)
    for key, (j, f) in expected.items():
        assert summary["per_expression"][key] == pytest.approx([j, f], abs=1e-12)
    assert summary["J"] == pytest.approx(2.375 / 4, abs=1e-12)
    assert summary["F"] == pytest.approx(2.75 / 4, abs=1e-12)
    assert summary["J&F"] == pytest.approx((2.375 + 2.75) / 8, abs=1e-12)
    assert summary["missing"] == ["mose_v1_2/2/00001.png", "burst_v2_3"]
    assert summary["skipped"] == []

    with (reasonvos["out"] / "per_expression.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["key", "J", "F", "J&F"]
    assert rows[3][0] == "mose_v1_2_2"
    assert [float(v) for v in rows[3][1:]] == pytest.approx([0.375, 0.5, 0.4375])

    printed = capsys.readouterr().out
    assert f"J&F: {(2.375 + 2.75) / 8:.6f}" in printed
    assert "2 missing predictions" in printed
    assert "scored as empty masks" in caplog.text


def test_reasonvos_layout_leaves_out_missing_masks_by_default(reasonvos):
    assert run_cli(reasonvos, "--workers", "1") == 0
    summary = json.loads((reasonvos["out"] / "summary.json").read_text())
    assert list(summary["per_expression"]) == ["mose_v1_1_0", "mose_v1_1_1"]
    assert summary["J"] == pytest.approx(0.75) and summary["F"] == pytest.approx(0.875)
    assert summary["skipped"] == ["mose_v1_2_2", "burst_v2_3_0"]


def test_the_mevis_meta_file_is_refused_for_reasonvos(reasonvos, capsys):
    meta = json.loads(reasonvos["meta"].read_text())
    meta["videos"]["v1"]["expressions"] = {"0": {"exp": "the cat", "obj_id": 1}}
    write_json(reasonvos["meta"], meta)
    assert run_cli(reasonvos) == 2
    assert '"expressions" list' in capsys.readouterr().err


@pytest.fixture
def mevis(tmp_path: Path) -> dict[str, Path]:
    """MeViS valid_u as ``evaluation/mevis_val_u/eval_mevis.py`` (``__main__``, ``eval_queue``)
    reads it: ``expressions`` an object keyed by expression id, ``mask_dict.json`` one COCO RLE
    (or null) per frame under each ``str(anno_id)``. One video, two frames; expression 1 is the
    union of two annotated objects."""
    # COCO RLEs of 5x7 masks, recorded from pycocotools.mask.encode.
    rle_pixel_22 = {"size": [5, 7], "counts": "<1f0"}
    rle_pixel_24 = {"size": [5, 7], "counts": "f01<"}
    rle_right_cols = {"size": [5, 7], "counts": "d0?"}  # columns 4..6
    mask_dict = {"10": [rle_pixel_22, None], "11": [rle_right_cols, rle_pixel_24]}
    meta = {
        "videos": {
            "m0": {
                "frames": ["00000", "00001"],
                "expressions": {
                    "0": {"exp": "the dog", "anno_id": [10], "obj_id": [0]},
                    "1": {"exp": "the dog and the car", "anno_id": [10, 11], "obj_id": [0, 1]},
                },
            }
        }
    }
    pred = tmp_path / "pred"
    union = pixel(2, 2)
    union[:, 4:] = True
    save_grey(pred / "m0/0/00000.png", pixel(2, 2))
    save_grey(pred / "m0/0/00001.png", EMPTY)
    save_grey(pred / "m0/1/00000.png", union)
    save_grey(pred / "m0/1/00001.png", pixel(2, 2))
    return {
        "gt": write_json(tmp_path / "mask_dict.json", mask_dict),
        "pred": pred,
        "meta": write_json(tmp_path / "meta_expressions.json", meta),
        "out": tmp_path / "report",
    }


def test_mevis_layout(mevis):
    assert run_cli(mevis, "--layout", "mevis", "--workers", "1") == 0
    summary = json.loads((mevis["out"] / "summary.json").read_text())
    # m0_0: exact pixel (1, 1), then nothing annotated and nothing predicted (1, 1).
    # m0_1: exact union (1, 1), then pixels two apart (0, 1/2).
    assert summary["per_expression"] == {"m0_0": [1.0, 1.0], "m0_1": [0.5, 0.75]}
    assert (summary["J"], summary["F"], summary["J&F"]) == pytest.approx((0.75, 0.875, 0.8125))
    assert summary["missing"] == []


def test_mevis_gt_may_be_the_folder_of_mask_dict(mevis):
    mevis["gt"] = mevis["gt"].parent
    assert run_cli(mevis, "--layout", "mevis") == 0


def test_mevis_unknown_anno_id_is_a_user_error(mevis, capsys):
    write_json(mevis["gt"], {"10": [None, None]})
    assert run_cli(mevis, "--layout", "mevis") == 2
    assert "anno_id 11" in capsys.readouterr().err


def test_rle_decoding_with_long_runs_and_differences():
    expected = np.zeros((40, 60), dtype=bool)
    expected[5:30, 10:50] = True
    expected[12:20, 20:30] = False
    expected[0, 0] = expected[39, 59] = True
    counts = (
        "01d<h0kC000000000000000000^OI37MI37MI37MI37MI37MI37MI37MI37MI37MI37?"
        "00000000000000000000000000000000000000Z<XO"
    )  # recorded from pycocotools.mask.encode(expected)
    assert np.array_equal(decode_rle({"size": [40, 60], "counts": counts}), expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(pred=p["pred"] / "nope"), "Prediction folder"),
        (lambda p: p.update(gt=p["gt"] / "nope"), "Ground-truth folder"),
        (lambda p: p.update(meta=p["meta"].with_name("nope.json")), "does not exist"),
        (lambda p: p["meta"].write_text("{not json"), "as JSON"),
        (lambda p: p["meta"].write_text('{"videos": []}'), '"videos"'),
        (lambda p: p["meta"].write_text('{"videos": {"v1": {"expressions": []}}}'), '"source"'),
        (lambda p: save_palette(p["gt"] / "mose_v1_1/00000.png", np.zeros((7, 5), bool)), "unlike"),
        (lambda p: save_grey(p["pred"] / "mose_v1_1/0/00000.png", np.zeros((4, 4), bool)), "4x4"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(reasonvos, change, message, capsys):
    change(reasonvos)
    assert run_cli(reasonvos, "--workers", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1


def test_workers_must_be_positive(reasonvos, capsys):
    assert run_cli(reasonvos, "--workers", "0") == 2
    assert "--workers" in capsys.readouterr().err
