"""A run's folder: its config, checkpoints that resume exactly, and ``metrics.csv``.

output_dir/train_config.json                     the run's config
output_dir/checkpoints/step_0000100/             the last KEEP_CHECKPOINTS checkpoints:
    model.safetensors, optimizer.pt,             weights (model + auxiliaries), AdamW state,
    train_config.json, complete                  the config, and the marker written last
output_dir/metrics.csv                           one row per log step
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from videolisa.errors import ConfigError
from videolisa.training.config import TrainConfig

KEEP_CHECKPOINTS = 2
CONFIG_FILE = "train_config.json"


def check_same_run(config: TrainConfig, out: Path) -> None:
    """Refuse to mix two configurations in one folder; write ``config`` there."""
    saved = out / CONFIG_FILE
    if saved.is_file() and TrainConfig.load(saved) != config:
        raise ConfigError(
            f"{out} holds a run with another configuration.",
            "Use a new output_dir, or the same config to resume.",
        )
    config.save(saved)


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step_{step:07d}"


def latest_step(out: Path) -> int:
    """The step of the newest finished checkpoint, 0 if there is none."""
    steps = [
        int(p.name.removeprefix("step_"))
        for p in (out / "checkpoints").glob("step_*")
        if (p / "complete").is_file()
    ]
    return max(steps, default=0)


def checkpoint_config(out: Path, step: int) -> TrainConfig:
    """The config checkpoint ``step`` was written with (the run's, for checkpoints written
    before each held its own)."""
    own = checkpoint_dir(out, step) / CONFIG_FILE
    return TrainConfig.load(own if own.is_file() else out / CONFIG_FILE)


def save_checkpoint(
    out: Path,
    step: int,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    sam_stage: bool,
) -> None:
    """Write checkpoint ``step`` (the ``complete`` marker last, via a rename) and drop all but
    the newest :data:`KEEP_CHECKPOINTS`."""
    folder = checkpoint_dir(out, step)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(partial / "model.safetensors"))
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    config.save(partial / CONFIG_FILE)
    (partial / "complete").write_text(json.dumps({"step": step, "sam_stage": sam_stage}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    done = sorted((out / "checkpoints").glob("step_???????"))
    for old in done[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old)


def prepare_metrics(path: Path, step: int, header: Sequence[str]) -> None:
    """Make ``path`` ready for a run (re)starting after ``step``: forget rows logged after it (by
    a run stopped before its next checkpoint), so the resumed rows follow on without repeats, and
    give a file written by an older version the columns of ``header`` (its rows get new columns
    empty and lose columns that are gone)."""
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    kept = [row for row in rows if int(row["step"]) <= step]
    if len(kept) < len(rows) or columns != list(header):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, header, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)


def append_metrics(
    path: Path, header: Sequence[str], step: int, values: dict[str, float], seconds: float
) -> None:
    """One row: ``step``, the values of ``header[1:-1]`` (0 when absent), ``seconds``."""
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(header)
        names = header[1:-1]
        writer.writerow([step, *(f"{values.get(m, 0.0):.5f}" for m in names), f"{seconds:.3f}"])
