"""``python -m videolisa eval --benchmark toyworld`` on a small untrained model, and the toy-world
summary worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from videolisa.cli import main
from videolisa.evaluation.benchmarks.toyworld import ToyWorldBenchmark, track_overlap
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.toyworld import CONVERSATION, SAMPLE_KINDS, TRK
from videolisa.toyworld import test_sample as held_out_sample
from videolisa.toyworld import test_set as held_out_set

SUMMARY_KEYS = {
    "J",
    "F",
    "J&F",
    "per_kind",
    "text_accuracy",
    "trk_precision",
    "trk_recall",
    "track_overlap",
    "overlapping_answers",
    "well_formed",
    "well_formed_conversation",
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    sentences = [
        text
        for kind in SAMPLE_KINDS
        for sample in held_out_set(kind, 2)
        for turn in sample.turns
        for text in (turn.question, turn.answer)
    ]
    return create_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", sentences * 3)


def run_toyworld(checkpoint: Path, out: Path, *extra: str) -> dict:
    argv = ["eval", "--model", str(checkpoint), "--device", "cpu", "--benchmark", "toyworld"]
    sizes = ["--frames-sparse", "4", "--frames-dense", "1", "--max-new-tokens", "6"]
    assert main([*argv, *sizes, "--out", str(out), *extra]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_held_out_sets_by_generation(checkpoint, tmp_path):
    out = tmp_path / "out"
    summary = run_toyworld(checkpoint, out, "--samples-per-kind", "1")
    assert summary["items"] == len(SAMPLE_KINDS)
    assert set(summary) >= SUMMARY_KEYS
    tracking_kinds = {"attribute", "motion", "comparison", "rule", "several", "multi_turn"}
    assert set(summary["per_kind"]) == tracking_kinds | {CONVERSATION}
    conversation = held_out_sample(CONVERSATION, 0).turns
    # kind text, the first turn of multi_turn, and the conversation's text questions
    assert summary["text_turns"] == 2 + sum(TRK not in t.answer for t in conversation)
    assert summary["turns"] == len(SAMPLE_KINDS) + 1 + len(conversation) - 1
    assert summary["conversation_turns"] == len(conversation) == 5
    records = [json.loads(p.read_text()) for p in (out / "done").iterdir()]
    multi_turn = next(r for r in records if r["kind"] == "multi_turn")
    assert [t["reference"] for t in multi_turn["turns"]][1].count("<TRK>") == 1


def test_a_folder_written_by_the_toyworld_command(checkpoint, tmp_path, encode_calls):
    data = tmp_path / "toy"
    written = ["toyworld", "--out", str(data), "--videos", "2", "--kinds", "several,text"]
    assert main([*written, "--max-frames", "8", "--max-size", "64"]) == 0
    limits = ["--limit", "1", "--sam-batch", "3", "--max-memory", "none"]
    summary = run_toyworld(checkpoint, tmp_path / "out", "--data", str(data), *limits)
    assert summary["items"] == 1 and summary["per_kind"].keys() == {"several"}
    assert [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls] == [(3, None)]


def test_track_overlap_by_hand():
    masks = np.zeros((3, 2, 4, 4), bool)
    masks[0, :, :2] = True  # rows 0-1 on both frames
    masks[1, 0, 1:3] = True  # frame 0: rows 1-2, IoU 1/3 with track 0
    masks[2, 1, 2:] = True  # frame 1 only, disjoint from both
    assert track_overlap(masks) == pytest.approx((1 / 3 + 0) / 2)
    assert track_overlap(masks[[0, 2]]) == 0.0
    assert track_overlap(np.zeros((2, 3, 4, 4), bool)) == 0.0


def test_summary_by_hand():
    def turn(answer: str, reference: str, **extra) -> dict:
        return {"question": "q", "answer": answer, "reference": reference, **extra}

    records = [
        {"key": "a", "kind": "text", "turns": [turn("There are 3.", "There are 3.")]},
        {
            "key": "b",
            "kind": "multi_turn",
            "turns": [
                turn("It is red <TRK>.", "It is blue."),
                turn("Sure, <TRK>.", "Sure, <TRK>."),
            ],
            "j": 0.5,
            "f": 0.7,
        },
        {
            "key": "c",
            "kind": "several",
            "turns": [turn("No.", "<TRK> and <TRK>.")],
            "j": 0.0,
            "f": 0.1,
        },
        {
            "key": "d",
            "kind": "conversation",
            "turns": [
                turn("There are 3 objects.", "There are 3 objects."),
                turn("Sure, they are <TRK> and <TRK>.", "x", overlap=0.5, reference_overlap=0.0),
                turn("Sure, they are <TRK> and <TRK>.", "x", overlap=0.1, reference_overlap=0.0),
                turn("St is track 0.", "It is red."),
            ],
        },
    ]
    summary = ToyWorldBenchmark([], []).summarize(records)
    assert summary["J"] == pytest.approx(0.25) and summary["F"] == pytest.approx(0.4)
    assert summary["J&F"] == pytest.approx(0.325)
    assert summary["per_kind"] == {"multi_turn": pytest.approx(0.6), "several": pytest.approx(0.05)}
    # 5 text turns (references without <TRK>): a, b's first, d's first, two "x", d's last
    assert summary["text_accuracy"] == pytest.approx(2 / 6)
    # <TRK> predicted in 4 turns (1 right), present in 2 references (1 found).
    assert summary["trk_precision"] == 0.25 and summary["trk_recall"] == 0.5
    assert summary["track_overlap"] == pytest.approx(0.3)
    assert summary["overlapping_answers"] == 0.5
    assert summary["well_formed_conversation"] == 0.75
    # well formed: d's first three; not "There are 3." (no noun), "It is red <TRK>.",
    # "Sure, <TRK>.", "No.", "St is track 0."
    assert summary["well_formed"] == pytest.approx(3 / 8)
