"""``python -m videolisa eval`` end to end on tiny benchmark folders in each published layout,
run on the golden tiny checkpoint; and resuming after an interruption."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.evaluation.fixtures import golden_args, golden_frames, run_eval, save_mask, write_video
from tests.evaluation.published_masks import encode_rle
from videolisa.cli import main
from videolisa.evaluation.benchmarks import reasonvos
from videolisa.evaluation.layouts import decode_rle


@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    return golden_frames(golden_dir)


def square(shape: tuple[int, int], top: int, left: int, size: int = 10) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_rle_encoder_round_trips():
    mask = np.random.default_rng(0).random((40, 56)) > 0.7
    assert np.array_equal(decode_rle(encode_rle(mask)), mask)


def test_reasonvos(golden_dir, frames, tmp_path):
    # The published format (evaluation/reason_vos/inference_reason_vos.py, main: each video's
    # "expressions" is a list of {"obj_id", "exp_id", "exp_text", "is_sent"} samples; frames are
    # JPEGImages/<video>/*.jpg; ground truth Annotations/<source>_<video>_<obj_id>/<frame>.png).
    data = tmp_path / "ReasonVOS"
    names = write_video(data / "JPEGImages" / "cat", frames)
    write_video(data / "JPEGImages" / "dog", frames[:3])
    for t, name in enumerate(names):
        save_mask(data / "Annotations" / "mose_cat_1" / f"{name}.png", square((40, 56), 5, 4 * t))
    for name in names[:3]:
        save_mask(data / "Annotations" / "burst_dog_2" / f"{name}.png", square((40, 56), 20, 30))
    meta = {
        "videos": {
            "cat": {
                "source": "mose",
                "frames": names,
                "expressions": [
                    {"obj_id": 1, "exp_id": 0, "exp_text": "What moves right?", "is_sent": True},
                    {"obj_id": 1, "exp_id": 1, "exp_text": "Red Square", "is_sent": False},
                ],
            },
            "dog": {
                "source": "burst",
                "frames": names[:3],
                "expressions": [
                    {"obj_id": 2, "exp_id": 0, "exp_text": "Green Patch", "is_sent": False}
                ],
            },
        }
    }
    (data / "meta_expressions.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    questions = [e.question for e in reasonvos.load(data, tmp_path / "unused").expressions]
    assert questions == [
        "What moves right?. Please output the segmentation masks.",
        "Please segment the red square in this scene.",
        "Please segment the green patch in this scene.",
    ]
    summary = run_eval(golden_dir, "reasonvos", data, out)
    assert summary["items"] == 3 and summary["expressions"] == 3 and summary["missing"] == []
    assert list(summary["per_expression"]) == ["mose_cat_1_0", "mose_cat_1_1", "burst_dog_2_0"]
    assert summary["J&F"] == pytest.approx((summary["J"] + summary["F"]) / 2)
    pred = out / "predictions"
    assert sorted(p.name for p in (pred / "mose_cat_1" / "1").iterdir()) == [
        f"{n}.png" for n in names
    ]
    assert Image.open(pred / "burst_dog_2" / "0" / "00002.png").size == (56, 40)
    # The scorer that equals the published one reads the same predictions and agrees.
    args = ["--pred", str(pred), "--gt", str(data / "Annotations"), "--meta"]
    meta_path = str(data / "meta_expressions.json")
    assert (
        main(["eval-masks", *args, meta_path, "--out", str(tmp_path / "s"), "--workers", "1"]) == 0
    )
    scored = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert scored["per_expression"] == summary["per_expression"]


@pytest.fixture
def mevis_valid_u(frames, tmp_path) -> Path:
    # The published format (evaluation/mevis_val_u/inference_mevis.py, main, and eval_mevis.py,
    # eval_queue): "expressions" is an object keyed by expression id, each {"exp", "obj_id",
    # "anno_id"}; mask_dict.json maps str(anno_id) to one COCO RLE (or null) per frame.
    data = tmp_path / "valid_u"
    videos = {"a": frames[:3], "b": frames[::3]}
    meta: dict = {"videos": {}}
    mask_dict = {}
    for v, (video, clip) in enumerate(videos.items()):
        names = write_video(data / "JPEGImages" / video, clip)
        expressions = {}
        for e, text in enumerate(["Moving Red Square", "the green patch"]):
            anno_id = f"{v}{e}"
            mask_dict[anno_id] = [
                encode_rle(square((40, 56), 5 + 10 * e, 3 * t)) for t in range(len(clip))
            ]
            expressions[str(e)] = {"exp": text, "obj_id": [e], "anno_id": [anno_id]}
        meta["videos"][video] = {"frames": names, "expressions": expressions}
    (data / "meta_expressions.json").write_text(json.dumps(meta))
    (data / "mask_dict.json").write_text(json.dumps(mask_dict))
    return data


@pytest.mark.slow
def test_mevis_valid_u_resumed_run_gives_the_uninterrupted_summary(
    golden_dir, mevis_valid_u, tmp_path, encode_calls
):
    whole = run_eval(golden_dir, "mevis", mevis_valid_u, tmp_path / "whole")
    assert whole["items"] == 4 and whole["scored"] and whole["missing"] == []
    assert set(whole["per_expression"]) == {"a_0", "a_1", "b_0", "b_1"}

    resumed_out = tmp_path / "resumed"
    partial = run_eval(golden_dir, "mevis", mevis_valid_u, resumed_out, "--limit", "2")
    assert partial["items"] == 2
    markers = {p: p.stat().st_mtime_ns for p in (resumed_out / "done").iterdir()}
    encode_calls.clear()
    # A run may resume with other SAM options: one frame per SAM call and room for one frame's
    # embedding (8 kB), so every embedding is recomputed when masks are decoded; same masks.
    sam_options = ["--sam-batch", "1", "--max-memory", "16kB"]
    resumed = run_eval(golden_dir, "mevis", mevis_valid_u, resumed_out, *sam_options)
    assert [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls] == [(1, 16_000)]
    assert resumed == whole | {"settings": resumed["settings"]}
    assert resumed["settings"]["data"] == whole["settings"]["data"]
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in markers.items())  # not redone
    predictions = sorted((tmp_path / "whole" / "predictions").rglob("*.png"))
    assert len(predictions) == 10  # 2 expressions of a 3-frame and a 2-frame video
    for path in predictions:
        resumed_path = resumed_out / path.relative_to(tmp_path / "whole")
        assert np.array_equal(np.asarray(Image.open(resumed_path)), np.asarray(Image.open(path)))


def test_a_resumed_run_with_other_settings_is_refused(golden_dir, mevis_valid_u, tmp_path, capsys):
    out = tmp_path / "out"
    run_eval(golden_dir, "mevis", mevis_valid_u, out, "--limit", "1")
    argv = ["eval", *golden_args(golden_dir), "--benchmark", "mevis", "--data"]
    code = main([*argv, str(mevis_valid_u), "--out", str(out), "--frames-dense", "1"])
    assert code == 2 and "frames_dense" in capsys.readouterr().err


def test_mevis_valid_writes_the_server_zip(golden_dir, frames, tmp_path):
    # MeViS valid as published (evaluation/mevis_val_u/inference_mevis.py, main): no
    # mask_dict.json; predictions Annotations/<video>/<exp_id>/<frame>.png for the server.
    meta = {"videos": {}}
    valid = tmp_path / "valid"
    for video in ("v1", "v2"):
        names = write_video(valid / "JPEGImages" / video, frames[:3])
        expression = {"exp": "a red square", "obj_id": [0], "anno_id": ["0"]}
        meta["videos"][video] = {"frames": names, "expressions": {"0": expression}}
    (valid / "meta_expressions.json").write_text(json.dumps(meta))
    expected = sorted(f"Annotations/{v}/0/{t:05d}.png" for v in ("v1", "v2") for t in range(3))
    out = tmp_path / "mevis"
    summary = run_eval(golden_dir, "mevis", valid, out)
    assert summary["items"] == 2 and summary["scored"] is False
    assert summary["submission"] == "submission.zip"
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert sorted(archive.namelist()) == expected
        with archive.open(expected[0]) as file:
            assert Image.open(file).size == (56, 40)


@pytest.mark.slow
def test_refine_with_sam2_writes_its_own_predictions_and_resumes(
    golden_dir, mevis_valid_u, tmp_path
):
    from tests.inference.tiny_trackers import tiny_sam2_checkpoint

    sam2 = tiny_sam2_checkpoint(tmp_path / "tiny-sam2")
    refine = ["--refine", "sam2", "--refine-model", str(sam2)]
    whole = run_eval(golden_dir, "mevis", mevis_valid_u, tmp_path / "whole", *refine)
    assert whole["settings"]["mode"] == "refine_sam2" and whole["scored"]
    assert set(whole["per_expression"]) == {"a_0", "a_1", "b_0", "b_1"}
    assert len(list((tmp_path / "whole" / "predictions-refine-sam2").rglob("*.png"))) == 10
    resumed_out = tmp_path / "resumed"
    run_eval(golden_dir, "mevis", mevis_valid_u, resumed_out, *refine, "--limit", "2")
    resumed = run_eval(golden_dir, "mevis", mevis_valid_u, resumed_out, *refine)
    assert resumed == whole | {"settings": resumed["settings"]}
    plain = ["eval", *golden_args(golden_dir), "--benchmark", "mevis", "--data"]
    assert main([*plain, str(mevis_valid_u), "--out", str(resumed_out)]) == 2  # other mode
