"""The evaluation runner without a model: sharding, resuming, markers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from videolisa.evaluation.benchmarks import Benchmark, Record, RunSettings
from videolisa.evaluation.runner import Shard, marker_path, run_benchmark
from videolisa.inference.generation import GenerationSettings

SETTINGS = RunSettings(4, 2, GenerationSettings())


class Squares(Benchmark):
    """Item i scores i²; counts the items it ran."""

    name = "squares"

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = list(keys)
        self.ran: list[int] = []

    def keys(self) -> list[str]:
        return self._keys

    def run_item(self, index, pipeline, out_dir: Path, settings: RunSettings) -> Record:
        assert pipeline == "pipeline"
        self.ran.append(index)
        return {"key": self._keys[index], "value": index * index}

    def summarize(self, records: Sequence[Record]) -> dict:
        return {"values": [r["value"] for r in records]}

    def headline(self, records: Sequence[Record]) -> str:
        return f"{len(records)} done"


KEYS = ["v/0", "v/1", "a b", "v/1 ", "ü"]


def test_shards_split_the_items_and_the_main_process_merges(tmp_path):
    ranks = [Squares(KEYS) for _ in range(2)]
    assert (
        run_benchmark(ranks[1], lambda: "pipeline", tmp_path, SETTINGS, {}, shard=Shard(1, 2))
        is None
    )
    summary = run_benchmark(ranks[0], lambda: "pipeline", tmp_path, SETTINGS, {}, shard=Shard(0, 2))
    assert ranks[0].ran == [0, 2, 4] and ranks[1].ran == [1, 3]
    assert summary["values"] == [0, 1, 4, 9, 16] and summary["items"] == 5
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_a_finished_run_loads_no_model_and_runs_nothing(tmp_path):
    run_benchmark(Squares(KEYS), lambda: "pipeline", tmp_path, SETTINGS, {}, limit=2)
    again = Squares(KEYS)

    def no_model():
        raise AssertionError("the model was loaded")

    assert run_benchmark(again, no_model, tmp_path, SETTINGS, {}, limit=2)["values"] == [0, 1]
    assert again.ran == []
    assert run_benchmark(again, lambda: "pipeline", tmp_path, SETTINGS, {})["items"] == 5
    assert again.ran == [2, 3, 4]


def test_marker_names_are_safe_and_distinct(tmp_path):
    paths = {marker_path(tmp_path, key) for key in KEYS}
    assert len(paths) == len(KEYS)
    assert all(path.parent == tmp_path / "done" and " " not in path.name for path in paths)
