"""The training loop: the loss falls, a resumed run continues the same curve, LoRA fine-tuning
of a published-layout checkpoint saves a model that ``segment`` loads."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT
from videolisa.training.config import LoraSettings, TrainConfig
from videolisa.training.trainer import METRICS_HEADER, train

SMALL_WORLD = {"min_frames": 8, "max_frames": 10, "min_size": 64, "max_size": 72}


def _config(out, **overrides) -> TrainConfig:
    values = {
        "output_dir": str(out),
        "world": SMALL_WORLD,
        "frames_sparse": 4,
        "frames_dense": 2,
        "batch_size": 2,
        "log_every": 1,
        "checkpoint_every": 1000,
        "lr": 2e-3,
        "head_lr": 2e-3,
        "auxiliary_weights": {"point_prompts": 0.5},
    }
    return TrainConfig.from_dict({**values, **overrides})


def _metrics(out) -> list[dict[str, float]]:
    with (out / "metrics.csv").open() as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_loss_falls_when_training_from_scratch(tmp_path):
    config = _config(tmp_path / "run", steps=60, sam_pretrain_steps=10)
    final = train(config)
    rows = _metrics(tmp_path / "run")
    assert (final / "model.safetensors").is_file()
    sam = [r["point_prompts"] for r in rows[:10]]
    assert sam[-1] < sam[0]
    joint = [r["total"] for r in rows[10:]]
    first, last = sum(joint[:10]) / 10, sum(joint[-10:]) / 10
    assert last < 0.8 * first, (first, last)


@pytest.mark.slow
def test_resumed_run_continues_the_same_curve(tmp_path):
    schedule = {"steps": 8, "sam_pretrain_steps": 2, "warmup_steps": 2, "decay_steps": 4}
    weights = {"point_prompts": 0.5, "appearance_queries": 0.5, "appearance_align": 0.5}
    schedule |= {"auxiliary_weights": {**weights, "patch_probe": 0.5, "attribute_probe": 0.5}}
    straight = _config(tmp_path / "a", **schedule)
    train(straight)
    paused = _config(tmp_path / "b", **schedule)
    assert train(paused, stop_at=5) is None
    with (tmp_path / "b" / "metrics.csv").open("a") as handle:  # killed after logging step 6
        handle.write("6" + ",9.9" * (len(METRICS_HEADER) - 1) + "\n")
    assert train(paused) is not None
    a, b = _metrics(tmp_path / "a"), _metrics(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 9))
    assert any(r["appearance_queries"] > 0 for r in a) and any(r["appearance_align"] > 0 for r in a)
    assert all(r["patch_probe"] > 0 for r in a)
    assert all(r["attribute_probe"] == 0 for r in a[:2]) and any(r["attribute_probe"] for r in a)
    for row_a, row_b in zip(a, b, strict=True):
        assert row_b["total"] == pytest.approx(row_a["total"], rel=1e-3, abs=1e-4)


@pytest.mark.slow
def test_lora_fine_tuning_of_the_golden_checkpoint(golden_dir, tmp_path):
    config = _config(
        tmp_path / "lora",
        init="pretrained",
        init_from=str(golden_dir),
        lora=LoraSettings(r=4, alpha=8),
        steps=3,
    )
    final = train(config)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "videolisa",
            "segment",
            "--model",
            str(final),
            "--video",
            str(golden_dir / "frames"),
            "--prompt",
            "Please segment the red square.",
            "--frames-sparse",
            "4",
            "--frames-dense",
            "2",
            "--out",
            str(tmp_path / "seg"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seg" / "masks" / "0" / "00005.png").is_file()
    saved = (final / "config.json").read_text()
    assert '"track_token": "[SEG]"' in saved and "lora" not in (
        final / "model.safetensors"
    ).read_bytes().decode("latin1")


@pytest.mark.slow
def test_another_config_in_the_same_folder_is_refused(tmp_path):
    from videolisa.errors import ConfigError

    train(_config(tmp_path / "r", steps=1))
    with pytest.raises(ConfigError, match="another configuration"):
        train(_config(tmp_path / "r", steps=2))


@pytest.mark.slow
def test_export_turns_a_paused_run_into_a_model(tmp_path):
    from videolisa.cli import main
    from videolisa.inference.pipeline import VideoLISAPipeline

    config = _config(tmp_path / "run", steps=6, sam_pretrain_steps=1)
    assert train(config, stop_at=3) is None
    saved = tmp_path / "run" / "checkpoints" / "step_0000003" / "train_config.json"
    assert TrainConfig.load(saved) == config  # every checkpoint holds its config
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "m")]) == 0
    pipeline = VideoLISAPipeline.from_pretrained(tmp_path / "m", device="cpu")
    assert pipeline.default_frames == (4, 2)
    assert pipeline.tokenizer.track_token == "<TRK>"
    assert (
        main(
            ["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "x"), "--step", "5"]
        )
        == 2
    )


def test_metrics_of_an_older_version_get_the_current_columns(tmp_path):
    from videolisa.training.run_folder import prepare_metrics

    path = tmp_path / "metrics.csv"
    path.write_text("step,ce,probe,total\n10,0.5,1,0.7\n20,0.4,1,0.6\n30,0.3,1,0.5\n")
    prepare_metrics(path, 20, METRICS_HEADER)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == METRICS_HEADER
    kept = [(r["step"], r["ce"], r["attribute_probe"]) for r in rows]
    assert kept == [("10", "0.5", ""), ("20", "0.4", "")]
