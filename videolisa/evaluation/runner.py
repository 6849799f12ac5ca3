"""Run a benchmark resumably, sharded over the processes of ``accelerate launch``.

``OUT/run.json`` holds the settings of the run; a restarted run with other settings is refused,
since it would mix predictions. Process ``rank`` of ``world`` runs the items ``i`` with
``i % world == rank``. Each finished item's predictions are written first, then its record, the
done marker ``OUT/done/<key>.json``, by an atomic rename; a restarted run skips items that have
one. The main process then waits until every item has a marker and writes ``OUT/summary.json``
from the records alone, so an interrupted and resumed run gives the summary of an uninterrupted
one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks import Benchmark, Record, RunSettings

logger = logging.getLogger(__name__)

DONE = "done"
RUN = "run.json"
SUMMARY = "summary.json"
POLL_SECONDS = 10.0


@dataclass(frozen=True)
class Shard:
    """This process's place among the processes sharing the items."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_shard() -> Shard:
    """The shard of this process under ``accelerate launch`` / ``torchrun`` (one process
    otherwise); each process of a multi-GPU launch is put on its own GPU."""
    try:
        from accelerate import PartialState
    except ImportError:
        return Shard()
    import torch

    # Without cpu=True, accelerate ignores a CPU-only multi-process launch.
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes > 1 and state.device.type == "cuda":
        torch.cuda.set_device(state.device)
    return Shard(state.process_index, state.num_processes)


def run_benchmark(
    benchmark: Benchmark,
    load_pipeline: Callable[[], Any],
    out_dir: Path,
    settings: RunSettings,
    run_config: dict[str, Any],
    limit: int | None = None,
    shard: Shard = Shard(),
) -> dict[str, Any] | None:
    """Run this shard's unfinished items of ``benchmark`` (the first ``limit`` items only, when
    given); on the main process, wait for all items and return the summary written to
    ``OUT/summary.json`` (None on the other processes).

    ``load_pipeline`` is called only when an item is left to run.
    """
    check_run_config(out_dir, run_config)
    keys = benchmark.keys()[:limit]
    mine = range(shard.rank, len(keys), shard.world)
    records = {i: record for i in mine if (record := read_marker(out_dir, keys[i])) is not None}
    todo = [i for i in mine if i not in records]
    label = benchmark.name if shard.world == 1 else f"{benchmark.name} {shard.rank}/{shard.world}"
    with tqdm(
        total=len(mine), initial=len(records), desc=label, unit="item", disable=None
    ) as progress:
        if records:
            progress.set_postfix_str(benchmark.headline(list(records.values())))
        pipeline = load_pipeline() if todo else None
        for index in todo:
            record = benchmark.run_item(index, pipeline, out_dir, settings)
            write_json_atomic(marker_path(out_dir, keys[index]), record)
            records[index] = record
            progress.set_postfix_str(benchmark.headline(list(records.values())))
            progress.update()
    if not shard.is_main:
        return None
    all_records = wait_for_records(out_dir, keys)
    summary = {
        "benchmark": benchmark.name,
        "items": len(keys),
        "settings": run_config,
        **benchmark.summarize(all_records),
        **benchmark.finish(out_dir, all_records),
    }
    write_json_atomic(out_dir / SUMMARY, summary)
    return summary


def check_run_config(out_dir: Path, config: dict[str, Any]) -> None:
    """Record ``config`` in ``OUT/run.json``, or refuse if it holds other settings."""
    path = out_dir / RUN
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in {**previous, **config} if previous.get(k) != config.get(k))
        if changed:
            raise UserInputError(
                f"{out_dir} holds a run with other settings ({', '.join(changed)}).",
                "Use a new --out folder, or the settings of that run to resume it.",
            )
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(
            f"Cannot create {out_dir}: {error.strerror}.", "Pass a writable --out folder."
        ) from error
    write_json_atomic(path, config)


def marker_path(out_dir: Path, key: str) -> Path:
    """``OUT/done/<key>.json``, the key made file-name safe (a hash keeps it unique)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return out_dir / DONE / f"{re.sub(r'[^A-Za-z0-9._-]', '_', key)[:100]}-{digest}.json"


def read_marker(out_dir: Path, key: str) -> Record | None:
    """The record of a finished item, or None."""
    path = marker_path(out_dir, key)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def wait_for_records(out_dir: Path, keys: list[str]) -> list[Record]:
    """The records of all ``keys`` in order, once every item has its marker."""
    last_log = 0.0
    while pending := [key for key in keys if not marker_path(out_dir, key).is_file()]:
        if time.monotonic() - last_log > 60:
            logger.warning("waiting for %d items of other processes", len(pending))
            last_log = time.monotonic()
        time.sleep(POLL_SECONDS)
    return [read_marker(out_dir, key) for key in keys]


def write_json_atomic(path: Path, content: Any) -> None:
    """Write ``content`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
