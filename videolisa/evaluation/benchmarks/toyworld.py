"""The toy world's held-out test sets, answered by generation.

Items are the first ``per_kind`` test samples of every kind and of the 5-turn conversations
(:data:`videolisa.toyworld.SAMPLE_KINDS`), interleaved kind by kind
(:func:`videolisa.toyworld.test_sample`), or the samples of a folder written by
``python -m videolisa toyworld``. Every turn of a conversation is answered by greedy generation
after the conversation before it, so the model decides itself whether to emit ``<TRK>``: the
reference conversation as history, except in the 5-turn conversations, which go on from the
model's own answers as they would in the app. Per turn the record keeps the generated and the
reference answer; turns whose reference tracks objects are scored by J and F, predicted track k
against reference track k (a missing track is an empty mask), the mean over the reference
tracks. Predicted masks go to ``OUT/predictions/<item>/<turn>/<track>/<frame:05d>.png``.

Summary: J, F, J&F over the tracking turns; ``per_kind`` J&F; ``text_accuracy``, the exact-match
rate of the answers of turns that track nothing; ``trk_precision`` and ``trk_recall`` of "the
answer contains <TRK>" over all turns; ``track_overlap``, over the answers that give two or more
tracks for two or more reference objects, the largest IoU between two of their tracks (averaged
over the frames where either shows), with ``overlapping_answers`` the share of those at or above
:data:`OVERLAP_LIMIT` whose reference objects overlap less; ``well_formed`` (all turns) and
``well_formed_conversation`` (the 5-turn conversations' turns), the share of answers that are a
sentence of the toy world's answer grammar (:func:`videolisa.toyworld.is_well_formed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videolisa.errors import ConfigError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings
from videolisa.evaluation.metrics import sequence_scores
from videolisa.modeling.chat_template import Message
from videolisa.toyworld import (
    CONVERSATION,
    SAMPLE_KINDS,
    TRK,
    Sample,
    Turn,
    is_well_formed,
    test_sample,
)
from videolisa.toyworld.disk import read_toyworld_folder
from videolisa.video import write_mask_png

OVERLAP_LIMIT = 0.2  # tracks of one answer should overlap less than this (IoU over frames)


class ToyWorldBenchmark(Benchmark):
    """Toy-world conversations; ``samples[i]()`` draws or reads sample i."""

    name = "toyworld"

    def __init__(self, keys: Sequence[str], samples: Sequence[Callable[[], Sample]]) -> None:
        self._keys = list(keys)
        self._samples = list(samples)

    def keys(self) -> list[str]:
        return self._keys

    def run_item(self, index, pipeline, out_dir: Path, settings: RunSettings) -> Record:
        sample = self._samples[index]()
        encoded = pipeline.encode(sample.frames, settings.encode)
        history: list[Message] = []
        turns = []
        scores = []
        for number, turn in enumerate(sample.turns):
            answer = pipeline.answer(
                encoded,
                history,
                turn.question,
                settings=settings.generation,
            )
            said = answer.text if sample.kind == CONVERSATION else turn.answer
            history += [Message("user", turn.question), Message("assistant", said)]
            record_turn = {
                "question": turn.question,
                "answer": answer.text,
                "reference": turn.answer,
            }
            turns.append(record_turn)
            if not turn.track_objects:
                continue
            masks = pipeline.track_masks(encoded, answer.track_embeddings)
            if len(masks) >= 2 and len(turn.track_objects) >= 2:
                record_turn["overlap"] = track_overlap(masks)
                record_turn["reference_overlap"] = track_overlap(
                    sample.masks[list(turn.track_objects)]
                )
            folder = out_dir / "predictions" / self._keys[index] / str(number)
            for track, track_masks in enumerate(masks):
                (folder / str(track)).mkdir(parents=True, exist_ok=True)
                for t, mask in enumerate(track_masks):
                    write_mask_png(folder / str(track) / f"{t:05d}.png", mask)
            scores += reference_track_scores(masks, sample, turn)
        record: Record = {"key": self._keys[index], "kind": sample.kind, "turns": turns}
        if scores:
            record["j"] = float(np.mean([j for j, _ in scores]))
            record["f"] = float(np.mean([f for _, f in scores]))
        return record

    def summarize(self, records: Sequence[Record]) -> dict[str, Any]:
        tracked = [r for r in records if "j" in r]
        j = _mean([r["j"] for r in tracked])
        f = _mean([r["f"] for r in tracked])
        per_kind = {
            kind: _mean([(r["j"] + r["f"]) / 2 for r in tracked if r["kind"] == kind])
            for kind in dict.fromkeys(r["kind"] for r in tracked)
        }
        turns = [turn for r in records for turn in r["turns"]]
        text_turns = [t for t in turns if TRK not in t["reference"]]
        pred = np.array([TRK in t["answer"] for t in turns], dtype=bool)
        ref = np.array([TRK in t["reference"] for t in turns], dtype=bool)
        hits = int(np.count_nonzero(pred & ref))
        several = [t for t in turns if "overlap" in t]
        conversation_turns = [t for r in records if r["kind"] == CONVERSATION for t in r["turns"]]
        return {
            "samples": len(records),
            "J": j,
            "F": f,
            "J&F": (j + f) / 2,
            "per_kind": per_kind,
            "text_accuracy": _mean(
                [t["answer"].strip() == t["reference"].strip() for t in text_turns]
            ),
            "text_turns": len(text_turns),
            "trk_precision": hits / max(int(np.count_nonzero(pred)), 1),
            "trk_recall": hits / max(int(np.count_nonzero(ref)), 1),
            "turns": len(turns),
            "track_overlap": _mean([t["overlap"] for t in several]),
            "overlapping_answers": _mean(
                [
                    t["overlap"] >= OVERLAP_LIMIT and t["reference_overlap"] < OVERLAP_LIMIT
                    for t in several
                ]
            ),
            "several_track_answers": len(several),
            "well_formed": _mean([is_well_formed(t["answer"]) for t in turns]),
            "well_formed_conversation": _mean(
                [is_well_formed(t["answer"]) for t in conversation_turns]
            ),
            "conversation_turns": len(conversation_turns),
        }

    def headline(self, records: Sequence[Record]) -> str:
        summary = self.summarize(records)
        return (
            f"J&F {summary['J&F']:.4f} text {summary['text_accuracy']:.3f} "
            f"well-formed {summary['well_formed']:.3f}"
        )


def load(data: Path | None, out_dir: Path, samples_per_kind: int) -> ToyWorldBenchmark:
    """The samples of ``data`` (a folder written by ``python -m videolisa toyworld``), or
    without it the held-out test sets, ``samples_per_kind`` of each kind."""
    if samples_per_kind < 1:
        raise ConfigError(
            f"--samples-per-kind must be at least 1, got {samples_per_kind}.",
            "Pass --samples-per-kind 1 or more.",
        )
    return held_out(samples_per_kind) if data is None else from_folder(data)


def held_out(per_kind: int) -> ToyWorldBenchmark:
    """The first ``per_kind`` test samples of every kind (and of the 5-turn conversations),
    kind by kind: all kinds' sample 0, then all kinds' sample 1, ..."""
    pairs = [(kind, i) for i in range(per_kind) for kind in SAMPLE_KINDS]
    return ToyWorldBenchmark(
        [f"test_{kind}_{i:05d}" for kind, i in pairs],
        [lambda kind=kind, i=i: test_sample(kind, i) for kind, i in pairs],
    )


def from_folder(data: Path) -> ToyWorldBenchmark:
    """The samples of a folder written by ``python -m videolisa toyworld``, one per expression."""
    samples = list(read_toyworld_folder(data))
    return ToyWorldBenchmark(
        [f"{sample.video_id}_{i}" for i, sample in enumerate(samples)],
        [lambda sample=sample: sample for sample in samples],
    )


def reference_track_scores(
    masks: np.ndarray, sample: Sample, turn: Turn
) -> list[tuple[float, float]]:
    """(J, F) for each object ``turn``'s reference answer tracks: predicted track k of ``masks``
    ((N, T, H, W) bool) against reference object k; a missing track is an empty mask."""
    empty = np.zeros(sample.masks.shape[1:], dtype=bool)
    return [
        sequence_scores(masks[track] if track < len(masks) else empty, sample.masks[obj])
        for track, obj in enumerate(turn.track_objects)
    ]


def track_overlap(masks: np.ndarray) -> float:
    """The largest IoU between two of K >= 2 tracks: (K, T, H, W) masks -> the IoU of each pair
    averaged over the frames where either shows (0 where neither ever does), max over pairs."""
    flat = masks.reshape(masks.shape[0], masks.shape[1], -1).astype(bool)
    worst = 0.0
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            union = (flat[a] | flat[b]).sum(axis=1)
            inter = (flat[a] & flat[b]).sum(axis=1)
            shown = union > 0
            if shown.any():
                worst = max(worst, float(np.mean(inter[shown] / union[shown])))
    return worst


def _mean(values: Sequence[float]) -> float:
    """The mean of ``values``; 0.0 when there are none."""
    return float(np.mean(values)) if len(values) else 0.0
