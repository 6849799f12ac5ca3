"""The bundled toy-world model (``assets/models/videolisa-toy``), evaluated the way a user does:
``python -m videolisa eval --benchmark toyworld`` with no ``--model``, on a fixed slice of the
held-out test sets, and on a folder of videos longer and larger than any it was trained on.

``test_no_regression`` guards what the committed model achieves (measured on these very samples,
less a small margin; ``track_overlap`` plus the margin, as it must stay low);
``test_issue_targets`` holds the targets of the toy-world issues and is an expected failure while
the bundled model is below them (strict: it turns red once they are met, so the marker gets
removed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videolisa.cli import main
from videolisa.defaults import DEFAULT_MODEL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(DEFAULT_MODEL).is_dir(), reason="bundled model not present"),
]

SAMPLES_PER_KIND = 8
# Training used seed 0, 8-40 frames of 64-128 px; these are another seed, longer and larger.
OTHER_VIDEOS = ["--videos", "24", "--seed", "11", "--min-frames", "40", "--max-frames", "64"]
OTHER_SIZES = ["--min-size", "144", "--max-size", "200"]

TARGETS = {
    "attribute": 0.80,
    "motion": 0.60,
    "comparison": 0.60,
    "rule": 0.50,
    "several": 0.50,
    "multi_turn": 0.50,
    "text_accuracy": 0.90,
    "trk": 0.95,
    "well_formed_conversation": 0.99,
}
LOWER_IS_BETTER = {"track_overlap"}
TRACK_OVERLAP_TARGET = 0.2
# Measured on the committed model with this file's samples, minus 0.05 (track_overlap plus
# 0.05); the 5-turn conversations go on from the model's own answers.
GUARD = {
    "attribute": 0.73,
    "motion": 0.27,
    "comparison": 0.43,
    "rule": 0.31,
    "several": 0.28,
    "multi_turn": 0.72,
    "conversation": 0.37,
    "text_accuracy": 0.15,
    "trk": 0.93,
    "track_overlap": 0.94,
    "well_formed_conversation": 0.92,
    "other_videos": 0.29,
}


def _evaluate(out: Path, *extra: str) -> dict:
    argv = ["eval", "--benchmark", "toyworld", "--device", "cpu", "--out", str(out), *extra]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def _scores(summary: dict) -> dict[str, float]:
    return {
        **summary["per_kind"],
        "text_accuracy": summary["text_accuracy"],
        "trk": min(summary["trk_precision"], summary["trk_recall"]),
        "track_overlap": summary["track_overlap"],
        "well_formed_conversation": summary["well_formed_conversation"],
    }


def _short_of(scores: dict[str, float], bars: dict[str, float]) -> dict[str, tuple]:
    """The scores on the wrong side of their bar (above it for LOWER_IS_BETTER)."""
    return {
        k: (scores[k], bar)
        for k, bar in bars.items()
        if (scores[k] > bar if k in LOWER_IS_BETTER else scores[k] < bar)
    }


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, float]:
    root = tmp_path_factory.mktemp("bundled")
    held_out = _evaluate(root / "held_out", "--samples-per-kind", str(SAMPLES_PER_KIND))
    data = root / "other_videos"
    assert main(["toyworld", "--out", str(data), *OTHER_VIDEOS, *OTHER_SIZES]) == 0
    other = _evaluate(root / "other_out", "--data", str(data))
    scores = {**_scores(held_out), "other_videos": other["J&F"]}
    print("bundled model:", json.dumps(scores, indent=1))
    return scores


def test_no_regression(measured):
    below = _short_of(measured, GUARD)
    assert not below, f"bundled model fell below its measured level: {below}"


@pytest.mark.xfail(strict=True, reason="the bundled model is below the issue's targets (README)")
def test_issue_targets(measured):
    below = _short_of(measured, {**TARGETS, "track_overlap": TRACK_OVERLAP_TARGET})
    assert not below, f"below target: {below}"
