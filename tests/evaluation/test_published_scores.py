"""``eval-masks`` gives the published scorers' numbers on folders in the published formats.

The expected numbers below were printed by showlab/VideoLISA's own scripts (commit 146f2bc),
``evaluation/reason_vos/eval_reason_vos.py`` and ``evaluation/mevis_val_u/eval_mevis.py``, run with
numpy, opencv-python-headless and pycocotools in a separate virtualenv on folders written by
:mod:`tests.evaluation.published_masks` (the commands are in its docstring). Both scripts left out
the expressions with a missing prediction folder or frame: the ReasonVOS one printed "not found,
not take into metric computation" for mose_cat_5/3 and its worker failed on burst_dog_4/1/00002.png;
the MeViS one failed on m0/2/00000.png and m2/0/00001.png and skipped video m1 silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evaluation.published_masks import write_mevis, write_reasonvos
from videolisa.cli import main

PUBLISHED_REASONVOS = {
    "per_expression": {
        "mose_cat_1_0": [0.7391304347826085, 0.7760736196319019],
        "mose_cat_1_1": [0.5004298501211495, 0.4444548481065335],
        "mose_cat_2_2": [0.0, 0.0],
        "burst_dog_3_0": [0.44999999999999996, 0.7258064516129032],
    },
    "J": 0.4223900712259395,
    "F": 0.4865837298378347,
    "J&F": 0.4544869005318871,
}
PUBLISHED_MEVIS = {
    "per_expression": {
        "m0_0": [0.6859504132231405, 0.76],
        "m0_1": [0.6660792980409335, 0.7031310267523099],
        "m2_1": [0.85, 0.9907407407407407],
    },
    "J": 0.7340099037546913,
    "F": 0.817957255831017,
    "J&F": 0.7759835797928542,
}


def eval_masks(paths: dict[str, Path], out: Path, *extra: str) -> dict:
    argv = ["eval-masks", "--pred", str(paths["pred"]), "--gt", str(paths["gt"])]
    argv += ["--meta", str(paths["meta"]), "--out", str(out), "--workers", "1", *extra]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def assert_published(summary: dict, published: dict) -> None:
    assert summary["per_expression"].keys() == published["per_expression"].keys()
    for key, scores in published["per_expression"].items():
        assert summary["per_expression"][key] == pytest.approx(scores, abs=1e-6), key
    for name in ("J", "F", "J&F"):
        assert summary[name] == pytest.approx(published[name], abs=1e-6), name


def test_reasonvos_equals_the_published_script(tmp_path, capsys):
    summary = eval_masks(write_reasonvos(tmp_path / "ReasonVOS"), tmp_path / "scores")
    assert_published(summary, PUBLISHED_REASONVOS)
    assert summary["missing_rule"] == "skip"
    assert summary["skipped"] == ["mose_cat_5_3", "burst_dog_4_1"]
    assert summary["missing"] == ["mose_cat_5", "burst_dog_4/1/00002.png"]
    printed = capsys.readouterr().out
    assert "J&F: 0.454487" in printed
    assert "4 of 6 expressions scored" in printed and "2 expressions left out" in printed


def test_mevis_equals_the_published_script(tmp_path):
    paths = write_mevis(tmp_path / "valid_u")
    summary = eval_masks(paths, tmp_path / "scores", "--layout", "mevis")
    assert_published(summary, PUBLISHED_MEVIS)
    assert summary["skipped"] == ["m0_2", "m1_0", "m2_0"]
    assert summary["missing"] == ["m0/2", "m1", "m2/0/00001.png"]


def test_missing_predictions_as_empty_masks(tmp_path):
    summary = eval_masks(
        write_reasonvos(tmp_path / "ReasonVOS"), tmp_path / "scores", "--missing", "empty"
    )
    assert summary["missing_rule"] == "empty" and summary["skipped"] == []
    assert summary["missing"] == ["mose_cat_5", "burst_dog_4/1/00002.png"]
    scores = summary["per_expression"]
    assert scores["mose_cat_5_3"] == [0.0, 0.0]  # an object on every frame, nothing predicted
    for key, published in PUBLISHED_REASONVOS["per_expression"].items():
        assert scores[key] == pytest.approx(published, abs=1e-6)
    # burst_dog_4_1: three predicted frames as published would score them, and one empty frame.
    assert 0 < scores["burst_dog_4_1"][0] < 0.75
    assert len(scores) == 6
    j = [score[0] for score in scores.values()]
    assert summary["J"] == pytest.approx(sum(j) / 6)


def test_every_expression_left_out_gives_no_score(tmp_path, capsys):
    paths = write_reasonvos(tmp_path / "ReasonVOS")
    paths["pred"] = tmp_path / "empty_pred"
    paths["pred"].mkdir()
    summary = eval_masks(paths, tmp_path / "scores")
    assert summary["J"] is None and summary["J&F"] is None
    assert len(summary["skipped"]) == 6
    assert "J&F: n/a" in capsys.readouterr().out
