"""Ref-DAVIS17: ``python -m videolisa eval --benchmark refdavis`` on a folder in the published
layout, and its per-annotator score against the numbers the published scripts print.

The expected numbers were printed by showlab/VideoLISA's own ``evaluation/refdavis`` scripts,
run outside the project (numpy 1.23.5, opencv-python-headless 4.8.1, scikit-image 0.21, pandas
2.0, scipy 1.15, and torch for the post-processing) on the folders :func:`write_refdavis` and
:func:`write_predictions` write::

    python -c "from pathlib import Path; from tests.evaluation.test_eval_refdavis import *; \\
        write_refdavis(Path('/tmp/rd/ref-davis')); write_predictions(Path('/tmp/rd/pred'))"
    # eval_davis.py reads DAVIS 2017 itself: the folders convert_davis_to_ytvos.py moved, back
    mkdir -p /tmp/rd/ref-davis/DAVIS/ImageSets/2017 && printf 'blackswan\\ndogs-jump\\n' \\
        > /tmp/rd/ref-davis/DAVIS/ImageSets/2017/val.txt
    cp -r /tmp/rd/ref-davis/valid/JPEGImages /tmp/rd/ref-davis/DAVIS/JPEGImages/480p
    cp -r /tmp/rd/ref-davis/valid/Annotations /tmp/rd/ref-davis/DAVIS/Annotations_unsupervised/480p
    cd <showlab/VideoLISA>/evaluation/refdavis
    python post_process_davis.py --src_dir /tmp/rd/pred --davis_path /tmp/rd/ref-davis
    python eval_davis.py --davis_path /tmp/rd/ref-davis/DAVIS --results_path \\
        /tmp/rd/pred_processed/anno_0        # and anno_1, anno_2, anno_3

(``eval_davis.py`` prints six digits; the values below are the same ``DAVISEvaluation.evaluate``
means printed in full.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.evaluation.fixtures import box, golden_frames, run_eval, save_mask, write_video
from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks import refdavis

HW = (40, 56)
# The published numbers: eval_davis.py (task "unsupervised", its default) on anno_0 ... anno_3.
PUBLISHED = [
    {"J": 0.6582272952685797, "F": 0.75},  # J&F 0.704114 as printed
    {"J": 0.5471161841574685, "F": 0.5288461538461539},  # 0.537981
    {"J": 0.21059216013344453, "F": 0.25},  # 0.230296
    {"J": 0.17657018907018907, "F": 0.17843527614838836},  # 0.177503
]


@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    return golden_frames(golden_dir)


def ground_truth(video: str, t: int) -> np.ndarray:
    """The (H, W) uint8 object ids of a frame: 0 background, 1, 2, ... objects, 255 void."""
    ids = np.zeros(HW, dtype=np.uint8)
    if video == "blackswan":
        ids[box(HW, 8 + t, 10 + 2 * t, 12, 14)] = 1
        if t == 2:
            ids[box(HW, 30, 0, 6, 56)] = 255  # a void band
        return ids
    ids[box(HW, 2, 2 + t, 10, 10)] = 1
    ids[box(HW, 20, 30, 12, 8)] = 2  # never referred to: unmatched, it scores 0
    ids[box(HW, 26, 6 + 2 * t, 9, 15)] = 3
    if t >= 2:
        ids[box(HW, 2, 44, 6, 8)] = 4  # absent from the first frame: not scored
    if t == 1:
        ids[box(HW, 0, 0, 5, 56)] = 255
    return ids


VIDEOS = {"blackswan": 4, "dogs-jump": 5}  # video -> frames
EXPRESSIONS = {
    # Per object four expressions, as convert_davis_to_ytvos.py orders them: annotator 1's
    # first-frame and full-video ones, then annotator 2's; obj_id is a string.
    "blackswan": [
        ("1", "a black swan"),
        ("1", "the swan swimming"),
        ("1", "black bird"),
        ("1", "Swan moving to the right"),
    ],
    "dogs-jump": [
        ("1", "a dog at the top"),
        ("1", "dog jumping up"),
        ("1", "upper dog"),
        ("1", "the dog that jumps"),
        ("3", "a dog at the bottom"),
        ("3", "dog running"),
        ("3", "lower dog"),
        ("3", "Dog moving right at the bottom"),
    ],
}


def write_refdavis(root: Path, frames: np.ndarray | None = None) -> None:
    """Ref-DAVIS17 as ReferFormer's ``convert_davis_to_ytvos.py`` leaves it and the published
    scripts read it (``inference_davis.py`` main: ``valid/JPEGImages/<video>/*.jpg`` and
    ``meta['videos'][video]['expressions'][exp_id]['exp']``; ``post_process_davis.py``: the
    ``frames`` list, four expressions per object, the palette of
    ``valid/Annotations/blackswan/00000.png``): palette ground truth in ``valid/Annotations``,
    ``meta_expressions/valid/meta_expressions.json`` with string ids."""
    rng = np.random.default_rng(0)
    videos = {}
    for video, length in VIDEOS.items():
        clip = frames[:length] if frames is not None else rng.integers(0, 255, (length, *HW, 3))
        names = write_video(root / "valid" / "JPEGImages" / video, clip.astype(np.uint8))
        for t, name in enumerate(names):
            image = Image.fromarray(ground_truth(video, t))
            image.putpalette(refdavis.DAVIS_PALETTE)
            path = root / "valid" / "Annotations" / video / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        expressions = {
            str(i): {"exp": text, "obj_id": obj_id}
            for i, (obj_id, text) in enumerate(EXPRESSIONS[video])
        }
        videos[video] = {"expressions": expressions, "frames": names}
    meta = root / "meta_expressions" / "valid" / "meta_expressions.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"videos": videos}))


def predicted(video: str, exp_id: int, t: int) -> np.ndarray:
    """A hand-made prediction for expression ``exp_id`` (object ``exp_id // 4``, annotator
    ``exp_id % 4``) on frame ``t``."""
    annotator = exp_id % 4
    if video == "blackswan":
        return [
            box(HW, 8 + t, 10 + 2 * t, 12, 14),  # the object
            box(HW, 10 + t, 12 + 2 * t, 12, 14),  # 2 pixels off
            np.zeros(HW, dtype=bool),  # nothing
            box(HW, 6 + t, 8 + 2 * t, 26, 20),  # too large, over the void band on frame 2
        ][annotator]
    first = exp_id < 4
    top, bottom = box(HW, 3, 2 + t, 9, 11), box(HW, 25, 7 + 2 * t, 10, 13)
    return [
        top if first else bottom,
        bottom if first else top,  # swapped: the pairing finds the objects all the same
        top if first else np.zeros(HW, dtype=bool),
        box(HW, 2, 2, 30, 40) if first else bottom,  # overlapping: the first object wins
    ][annotator]


def write_predictions(folder: Path, foreground: int = 100) -> list[str]:
    """The predictions as ``inference_davis.py`` writes them: ``<video>/<exp_id>/<frame>.png``,
    ``cv2.imwrite(path, pred_mask * 100)``; the expression keys."""
    keys = []
    for video, length in VIDEOS.items():
        for exp_id in range(len(EXPRESSIONS[video])):
            for t in range(length):
                mask = predicted(video, exp_id, t)
                save_mask(folder / video / str(exp_id) / f"{t:05d}.png", mask, foreground)
            keys.append(f"{video}_{exp_id}")
    return keys


def test_davis2017_score_equals_the_published_scripts(tmp_path):
    data = tmp_path / "ref-davis"
    write_refdavis(data)
    out = tmp_path / "out"
    keys = write_predictions(out / "predictions")
    benchmark = refdavis.load(data, out)
    assert benchmark.keys() == keys
    summary = benchmark.finish(out, [{"key": key} for key in keys])
    assert summary["annotator_folders"] == ["anno_0", "anno_1", "anno_2", "anno_3"]
    davis = summary["davis2017"]
    for scores, published in zip(davis["per_annotator"], PUBLISHED, strict=True):
        # blackswan's object, and dogs-jump's objects 1, 2 and 3 of its first frame
        assert scores["objects"] == 4
        assert scores["J"] == pytest.approx(published["J"], abs=1e-6)
        assert scores["F"] == pytest.approx(published["F"], abs=1e-6)
        assert scores["J&F"] == pytest.approx((published["J"] + published["F"]) / 2, abs=1e-6)
    assert davis["J&F"] == pytest.approx(np.mean([(p["J"] + p["F"]) / 2 for p in PUBLISHED]))
    # post_process_davis.py's merge: 1 + the first object covering a pixel, palette PNGs.
    merged = Image.open(out / "anno_3" / "dogs-jump" / "00001.png")
    expected = np.where(predicted("dogs-jump", 3, 1), 1, 0)
    expected[(expected == 0) & predicted("dogs-jump", 7, 1)] = 2
    assert merged.mode == "P" and np.array_equal(np.asarray(merged), expected)


def test_pairing_takes_the_largest_total():
    # Rows: merged objects; columns: ground-truth objects. Greedy would take (0, 0) first.
    scores = np.array([[0.9, 0.8], [0.7, 0.1], [0.0, 0.0]])
    assert refdavis._best_pairs(scores) == [(0, 1), (1, 0)]
    assert refdavis._best_pairs(np.zeros((2, 0))) == []


@pytest.mark.slow
def test_eval_runs_every_expression_and_merges_each_annotator(golden_dir, frames, tmp_path):
    data = tmp_path / "ref-davis"
    write_refdavis(data, frames)
    out = tmp_path / "out"
    summary = run_eval(golden_dir, "refdavis", data, out)
    keys = [f"{v}_{i}" for v in VIDEOS for i in range(len(EXPRESSIONS[v]))]
    assert summary["scored"] and list(summary["per_expression"]) == keys
    questions = [e.question for e in refdavis.load(data, out).expressions]
    assert questions[3] == "Please segment the swan moving to the right in this image."
    assert sorted(p.name for p in (out / "predictions" / "dogs-jump" / "7").iterdir()) == [
        f"{t:05d}.png" for t in range(5)
    ]
    assert [a["objects"] for a in summary["davis2017"]["per_annotator"]] == [4] * 4
    for annotator in range(4):
        folder = out / f"anno_{annotator}"
        assert sorted(p.name for p in (folder / "blackswan").iterdir()) == [
            f"{t:05d}.png" for t in range(4)
        ]


def test_a_frames_list_unlike_the_frames_is_refused(tmp_path):
    data = tmp_path / "ref-davis"
    write_refdavis(data)
    meta = data / "meta_expressions" / "valid" / "meta_expressions.json"
    content = json.loads(meta.read_text())
    content["videos"]["blackswan"]["frames"].pop()
    meta.write_text(json.dumps(content))
    with pytest.raises(UserInputError, match='"frames" list'):
        refdavis.load(data, tmp_path / "out")


def test_videos_without_ground_truth_are_run_but_not_scored(tmp_path):
    data = tmp_path / "ref-davis"
    write_refdavis(data)
    shutil.rmtree(data / "valid" / "Annotations" / "dogs-jump")
    out = tmp_path / "out"
    keys = write_predictions(out / "predictions")
    benchmark = refdavis.load(data, out)
    scored = [e.score is not None for e in benchmark.expressions]
    assert scored == [key.startswith("blackswan") for key in keys]
    summary = benchmark.finish(out, [{"key": key} for key in keys])
    assert [a["objects"] for a in summary["davis2017"]["per_annotator"]] == [1] * 4
