"""``python -m videolisa eval`` end to end on tiny benchmark folders in each published layout,
run on the golden tiny checkpoint; and resuming after an interruption."""

from __future__ import annotations

import itertools
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import golden_model_args
from videolisa.cli import main
from videolisa.evaluation.benchmarks import reasonvos
from videolisa.evaluation.layouts import decode_rle
from videolisa.evaluation.metrics import region_similarity


@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    """The golden video: (6, 40, 56, 3) uint8."""
    paths = sorted((golden_dir / "frames").glob("*.png"))
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def golden_args(golden_dir: Path) -> list[str]:
    return [*golden_model_args(golden_dir), "--device", "cpu", "--dtype", "float32"]


def run_eval(golden_dir: Path, benchmark: str, data: Path, out: Path, *extra: str) -> dict:
    argv = ["eval", *golden_args(golden_dir), "--benchmark", benchmark]
    assert main([*argv, "--data", str(data), "--out", str(out), *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def write_video(folder: Path, frames: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{t:05d}" for t in range(len(frames))]
    for name, frame in zip(names, frames, strict=True):
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=95)
    return names


def square(shape: tuple[int, int], top: int, left: int, size: int = 10) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def save_grey(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of an (H, W) bool mask (pycocotools' rleToString)."""
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
        save_grey(data / "Annotations" / "mose_cat_1" / f"{name}.png", square((40, 56), 5, 4 * t))
    for name in names[:3]:
        save_grey(data / "Annotations" / "burst_dog_2" / f"{name}.png", square((40, 56), 20, 30))
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


def test_mevis_valid_and_refytvos_write_the_server_zip(golden_dir, frames, tmp_path):
    meta = {"videos": {}}
    valid = tmp_path / "valid"
    ytvos = tmp_path / "ref-youtube-vos"
    for video in ("v1", "v2"):
        names = write_video(valid / "JPEGImages" / video, frames[:3])
        write_video(ytvos / "valid" / "JPEGImages" / video, frames[:3])
        meta["videos"][video] = {"frames": names, "expressions": {"0": {"exp": "a red square"}}}
    (valid / "meta_expressions.json").write_text(json.dumps(meta))
    # Ref-YouTube-VOS's meta also lists test videos, which have no frames in valid/.
    meta["videos"]["test_only"] = {"frames": ["00000"], "expressions": {"0": {"exp": "x"}}}
    (ytvos / "meta_expressions" / "valid").mkdir(parents=True)
    (ytvos / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(meta))
    expected = sorted(f"Annotations/{v}/0/{t:05d}.png" for v in ("v1", "v2") for t in range(3))
    for benchmark, data in (("mevis", valid), ("refytvos", ytvos)):
        out = tmp_path / benchmark
        summary = run_eval(golden_dir, benchmark, data, out)
        assert summary["items"] == 2 and summary["scored"] is False
        assert summary["submission"] == "submission.zip"
        with zipfile.ZipFile(out / "submission.zip") as archive:
            assert sorted(archive.namelist()) == expected
            with archive.open(expected[0]) as file:
                assert Image.open(file).size == (56, 40)


def test_refdavis_scores_each_expression_and_each_annotator(golden_dir, frames, tmp_path):
    data = tmp_path / "ref-davis"
    names = write_video(data / "valid" / "JPEGImages" / "swan", frames[:4])
    for t, name in enumerate(names):
        ids = (square((40, 56), 5, 4 * t) + 2 * square((40, 56), 25, 40)).astype(np.uint8)
        image = Image.fromarray(ids)
        image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0])
        path = data / "valid" / "Annotations" / "swan" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    # Two objects, four annotators each: expression 4 * object + annotator.
    texts = ["red square", "the moving square", "square in red", "left thing"]
    texts += ["green patch", "static patch", "small green", "patch at the right"]
    expressions = {str(i): {"exp": text, "obj_id": str(1 + i // 4)} for i, text in enumerate(texts)}
    meta = {"videos": {"swan": {"frames": names, "expressions": expressions}}}
    (data / "meta_expressions" / "valid").mkdir(parents=True)
    (data / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    summary = run_eval(golden_dir, "refdavis", data, out)
    assert summary["scored"] and len(summary["per_expression"]) == 8
    assert summary["annotator_folders"] == ["anno_0", "anno_1", "anno_2", "anno_3"]
    for annotator in range(4):
        for name in names:
            first = np.asarray(
                Image.open(out / "predictions" / "swan" / str(annotator) / f"{name}.png")
            )
            second = np.asarray(
                Image.open(out / "predictions" / "swan" / str(4 + annotator) / f"{name}.png")
            )
            expected = np.where(first > 0, 1, np.where(second > 0, 2, 0))
            merged = Image.open(out / f"anno_{annotator}" / "swan" / f"{name}.png")
            assert merged.mode == "P" and np.array_equal(np.asarray(merged), expected)
    # DAVIS 2017 semi-supervised: every object, all frames but the first and the last.
    truth = [np.asarray(Image.open(data / "valid/Annotations/swan" / f"{n}.png")) for n in names]
    davis = summary["davis2017"]
    for annotator, scores in enumerate(davis["per_annotator"]):
        folder = out / f"anno_{annotator}" / "swan"
        labels = [np.asarray(Image.open(folder / f"{n}.png")) for n in names]
        j = np.mean(
            [
                np.mean([region_similarity(labels[t] == k, truth[t] == k) for t in (1, 2)])
                for k in (1, 2)
            ]
        )
        assert scores["objects"] == 2 and scores["J"] == pytest.approx(j)
        assert scores["J&F"] == pytest.approx((scores["J"] + scores["F"]) / 2)
    assert davis["J&F"] == pytest.approx(np.mean([a["J&F"] for a in davis["per_annotator"]]))


def test_reasonseg_reports_giou_and_ciou(golden_dir, frames, tmp_path, encode_calls):
    data = tmp_path / "val"
    data.mkdir()
    for i, is_sentence in enumerate((True, False)):
        Image.fromarray(frames[i]).save(data / f"img{i}.jpg", quality=95)
        shapes = [
            {"label": "target", "points": [[4, 4], [30.7, 4], [30.7, 20], [4, 20]]},
            {"label": "ignore", "points": [[10, 10], [14, 10], [14, 14]]},
            {"label": "flag", "points": [[0, 0], [1, 1], [0, 1]]},
        ]
        text = ["the thing that moves", "unused second text"]
        annotation = {"text": text, "is_sentence": is_sentence, "shapes": shapes}
        (data / f"img{i}.json").write_text(json.dumps(annotation))
    summary = run_eval(golden_dir, "reasonseg", data, tmp_path / "out", "--sam-batch", "1")
    sam_options = [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls]
    assert sam_options == [(1, 2 * 10**9)] * 2  # one encode per image; --max-memory 2GB
    assert summary["images"] == 2 and set(summary["per_image"]) == {"img0", "img1"}
    assert 0 <= summary["gIoU"] <= 1 and 0 <= summary["cIoU"] <= 1
    assert Image.open(tmp_path / "out" / "predictions" / "img1.png").size == (56, 40)


def test_refcoco_asks_every_sentence_of_the_split(golden_dir, frames, tmp_path):
    data = tmp_path / "refer_seg"
    images = data / "images" / "mscoco" / "images" / "train2014"
    images.mkdir(parents=True)
    for image_id in (1, 2):
        Image.fromarray(frames[image_id]).save(images / f"COCO_{image_id}.jpg", quality=95)
    (data / "refcoco").mkdir()
    refs = [
        {
            "ref_id": 0,
            "ann_id": 10,
            "image_id": 1,
            "split": "val",
            "sentences": [{"sent": " The Red Square "}, {"sent": "red thing"}],
        },
        {
            "ref_id": 1,
            "ann_id": 11,
            "image_id": 1,
            "split": "val",
            "sentences": [{"sent": "patch"}],
        },
        {"ref_id": 2, "ann_id": 12, "image_id": 2, "split": "train", "sentences": [{"sent": "x"}]},
    ]
    (data / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs))
    square_polygon = [[4.0, 4.0, 20.0, 4.0, 20.0, 20.0, 4.0, 20.0]]
    instances = {
        "images": [
            {"id": i, "file_name": f"COCO_{i}.jpg", "height": 40, "width": 56} for i in (1, 2)
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "segmentation": square_polygon},
            {"id": 11, "image_id": 1, "segmentation": []},
            {"id": 12, "image_id": 2, "segmentation": square_polygon},
        ],
    }
    (data / "refcoco" / "instances.json").write_text(json.dumps(instances))
    summary = run_eval(golden_dir, "refcoco", data, tmp_path / "out")
    assert summary["items"] == 1 and summary["sentences"] == 3
    assert summary["settings"]["refer_split"] == "refcoco|unc|val"
    assert 0 <= summary["gIoU"] <= 1 and 0 <= summary["cIoU"] <= 1
    assert sorted(p.name for p in (tmp_path / "out" / "predictions" / "1").iterdir()) == [
        "0.png",
        "1.png",
        "2.png",
    ]


def test_coco_targets_are_the_pixels_covered_once():
    from videolisa.evaluation.benchmarks.refcoco import annotation_target

    overlapping = [
        [0.0, 0.0, 6.0, 0.0, 6.0, 6.0, 0.0, 6.0],
        [3.0, 3.0, 9.0, 3.0, 9.0, 9.0, 3.0, 9.0],
    ]
    target = annotation_target({"segmentation": overlapping}, 12, 12)
    assert target[1, 1] and target[8, 8] and not target[4, 4] and not target[11, 11]
    assert not annotation_target({"segmentation": []}, 12, 12).any()
