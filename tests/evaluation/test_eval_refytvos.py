"""Ref-YouTube-VOS: ``python -m videolisa eval --benchmark refytvos`` on a folder in the published
layout. Its ground truth is not public, so there is no published score to compare with: the
checks are what is run, what is asked, and the files written for the server."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.evaluation.fixtures import golden_frames, run_eval, write_video
from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks import refytvos

EXPRESSIONS = {
    "003234408d": {
        "0": {"exp": "a penguin is on the left in the front with many others on the hill"},
        "1": {"exp": "Penguin In The Middle"},
    },
    "0062f687f1": {"0": {"exp": "a man holding a surfboard"}},
}


@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    return golden_frames(golden_dir)


def write_refytvos(root: Path, frames: np.ndarray) -> dict[str, list[str]]:
    """Ref-YouTube-VOS's valid split as published and as ``inference_refytvos.py`` (main) reads
    it: ``valid/JPEGImages/<video>/*.jpg``, every fifth frame named by its number, and
    ``meta_expressions/valid/meta_expressions.json``, ``{"videos": {video: {"expressions":
    {exp_id: {"exp"}}, "frames": [...]}}}`` with string expression ids, listing test videos too
    (``0065b171f9`` here: no frames in ``valid/``). The frame names of each video."""
    names = {}
    videos = {}
    for video, length in (("003234408d", 3), ("0062f687f1", 2)):
        numbers = [f"{5 * t:05d}" for t in range(length)]
        names[video] = write_video(root / "valid" / "JPEGImages" / video, frames[:length], numbers)
        videos[video] = {"expressions": EXPRESSIONS[video], "frames": names[video]}
    videos["0065b171f9"] = {"expressions": {"0": {"exp": "a dog"}}, "frames": ["00000"]}
    meta = root / "meta_expressions" / "valid" / "meta_expressions.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"videos": videos}))
    return names


def test_eval_writes_the_server_zip(golden_dir, frames, tmp_path):
    data = tmp_path / "ref-youtube-vos"
    names = write_refytvos(data, frames)
    questions = [e.question for e in refytvos.load(data, tmp_path / "unused").expressions]
    # evaluation/refytvos/inference_refytvos.py: "Please segment the {class_name} in this image."
    # with the expression lower-cased; the videos of valid/JPEGImages, each expression in order.
    assert questions == [
        "Please segment the a penguin is on the left in the front with many others on the hill "
        "in this image.",
        "Please segment the penguin in the middle in this image.",
        "Please segment the a man holding a surfboard in this image.",
    ]
    out = tmp_path / "out"
    summary = run_eval(golden_dir, "refytvos", data, out)
    assert summary["items"] == 3 and summary["scored"] is False
    assert summary["submission"] == "submission.zip"
    expected = sorted(
        f"Annotations/{video}/{exp_id}/{name}.png"
        for video, exp_ids in EXPRESSIONS.items()
        for exp_id in exp_ids
        for name in names[video]
    )
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert sorted(archive.namelist()) == expected
        with archive.open("Annotations/003234408d/1/00010.png") as file:
            mask = Image.open(file)
            assert mask.mode == "L" and mask.size == (56, 40)
            assert set(np.unique(np.asarray(mask))) <= {0, 255}  # cv2.imwrite(mask * 255)


def test_a_video_missing_from_the_meta_file_is_refused(frames, tmp_path):
    data = tmp_path / "ref-youtube-vos"
    write_refytvos(data, frames)
    write_video(data / "valid" / "JPEGImages" / "ffffffffff", frames[:2])
    with pytest.raises(UserInputError, match="ffffffffff"):
        refytvos.load(data, tmp_path / "out")
