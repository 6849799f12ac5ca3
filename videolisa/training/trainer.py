"""The training loop: toy-world (or benchmark) examples, AdamW, checkpoints that resume exactly.

Sample ``i`` of a run is a pure function of the run's seed and ``i`` (step * batch + slot), so a
run resumed from a checkpoint sees exactly the data it would have seen. Distribution, mixed
precision and gradient accumulation come from ``accelerate``:

    accelerate launch -m videolisa train --config run.json
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from videolisa.errors import ConfigError
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.checkpoint import save_checkpoint
from videolisa.toyworld import Sample, WorldConfig, check_kinds, train_sample
from videolisa.training.appearance import AppearanceQueries
from videolisa.training.config import TrainConfig, lr_factor
from videolisa.training.examples import (
    VisualFeatures,
    build_example,
    example_losses,
    visual_features,
)
from videolisa.training.losses import LossWeights
from videolisa.training.patch_probe import PatchProbe
from videolisa.training.point_prompts import point_prompt_losses
from videolisa.training.probe import AttributeProbe
from videolisa.training.setup import initial_pipeline, merge_lora, parameter_groups

logger = logging.getLogger(__name__)

METRICS = (
    "ce",
    "bce",
    "dice",
    "point",
    "probe",
    "appearance",
    "align",
    "patch",
    "total",
    "embedding_std",
)
METRICS_HEADER = ("step", *METRICS, "seconds_per_step")  # the columns of metrics.csv
KEEP_CHECKPOINTS = 2


@dataclass
class StepResult:
    losses: dict[str, float]
    seconds: float


class TrainingStep(nn.Module):
    """One optimisation step's forward pass as a module, so accelerate can wrap it (DDP)."""

    def __init__(self, pipeline: VideoLISAPipeline, config: TrainConfig, world: WorldConfig):
        super().__init__()
        self.model = pipeline.model
        self.pipeline = pipeline
        self.config = config
        self.world = world
        self.weights = LossWeights(config.ce_weight, config.bce_weight, config.dice_weight)
        self.probe = AttributeProbe(pipeline.model.config.hidden_size)
        uses_queries = config.appearance_weight > 0 or config.appearance_align_weight > 0
        self.appearance = (
            AppearanceQueries(pipeline.model.sam.prompt_encoder.embed_dim) if uses_queries else None
        )
        hidden = pipeline.model.config.hidden_size
        self.patch_probe = PatchProbe(hidden) if config.patch_probe_weight > 0 else None

    def forward(self, step: int, sam_stage: bool) -> dict[str, torch.Tensor]:
        """Mean losses over the step's ``batch_size`` samples."""
        sums: dict[str, torch.Tensor] = {}
        embeddings = []
        for slot in range(self.config.batch_size):
            index = step * self.config.batch_size + slot
            losses = self._sample_losses(index, sam_stage)
            if "embeddings" in losses:
                embeddings.append(losses.pop("embeddings").detach())
            for name, value in losses.items():
                sums[name] = sums.get(name, 0) + value / self.config.batch_size
        stacked = torch.cat(embeddings) if embeddings else torch.zeros(0)
        spread = stacked.std(dim=0).mean() if len(stacked) > 1 else torch.zeros(())
        sums["embedding_std"] = spread.detach()
        return sums

    def _sample_losses(self, index: int, sam_stage: bool) -> dict[str, torch.Tensor]:
        config = self.config
        rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(7, index)))
        kind = sample_kind(config, index, active_kinds(config, index // config.batch_size))
        sample = train_sample(config.seed, index, kind, self.world)
        turn_index = int(rng.integers(len(sample.turns)))
        example = build_example(
            self.pipeline, sample, turn_index, config.frames_sparse, config.frames_dense
        )
        features = visual_features(self.model, self.pipeline.preprocessor, example)
        dense = list(example.sampling.dense_frames)
        point = point_prompt_losses(
            self.model,
            features.dense_sam_embeddings,
            sample.masks[:, dense],
            features.resized_hw,
            rng,
        )
        zero = features.dense_sam_embeddings.sum() * 0
        point_loss = sum(point) if point else zero
        appearance = (
            sum(
                self.appearance.mask_losses(
                    self.model, features.dense_sam_embeddings, sample, dense, features.resized_hw
                )
            )
            if self.appearance is not None and config.appearance_weight > 0
            else zero
        )
        patch = self._patch_loss(features, sample) if self.patch_probe is not None else zero
        if sam_stage:
            total = (
                point_loss
                + config.appearance_weight * appearance
                + config.patch_probe_weight * patch
            )
            return {"point": point_loss, "appearance": appearance, "patch": patch, "total": total}
        losses = example_losses(self.model, example, features, self.weights)
        track_objects = sample.turns[turn_index].track_objects
        track_states = losses.pop("track_states")
        probe = self.probe.loss(track_states, sample, track_objects) if track_objects else zero
        align = None
        if self.appearance is not None and track_objects:
            align = self.appearance.alignment_loss(losses["embeddings"], sample, track_objects)
        align = zero if align is None else align
        losses.update(point=point_loss, probe=probe, appearance=appearance, align=align)
        losses["patch"] = patch
        losses["total"] = (
            losses["total"]
            + config.point_prompt_weight * point_loss
            + config.appearance_weight * appearance
            + config.probe_weight * probe
            + config.appearance_align_weight * align
            + config.patch_probe_weight * patch
        )
        return losses

    def _patch_loss(self, features: VisualFeatures, sample: Sample) -> torch.Tensor:
        """The patch probe's loss on the (D * L, H) dense-frame tokens of ``features``, against
        the masks of ``sample``'s objects on the same D frames."""
        sampling = features.sampling
        dense_tokens = features.video_tokens[len(sampling.sparse) :]
        dense_tokens = dense_tokens.view(len(sampling.dense), -1, dense_tokens.shape[-1])
        dense_masks = sample.masks[:, list(sampling.dense_frames)]  # (N, D, H, W)
        return self.patch_probe.loss(dense_tokens, dense_masks, sample.objects)


def active_kinds(config: TrainConfig, step: int) -> tuple[str, ...]:
    """The toy-world kinds trained at ``step`` under the curriculum."""
    started = 1 + sum(step >= start for start in config.curriculum_steps)
    return check_kinds(config.toyworld_kinds[:started])


def sample_kind(config: TrainConfig, index: int, kinds: tuple[str, ...]) -> str:
    """The question kind of sample ``index``: the ``kinds`` in turn, or, with ``kind_weights``,
    drawn with probabilities proportional to them (a function of the seed and ``index``)."""
    if not config.kind_weights:
        return kinds[index % len(kinds)]
    weights = np.array([config.kind_weights.get(kind, 1.0) for kind in kinds])
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(11, index)))
    return kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]


def train(config: TrainConfig, resume: bool = True, stop_at: int | None = None) -> Path | None:
    """Run (or continue) ``config``'s training; returns the folder of the final model.

    ``stop_at``: pause after that step (a checkpoint is written) and return ``None``; running
    again later continues the same run.
    """
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_run(config, out)
    torch.manual_seed(config.seed)
    world = WorldConfig(**config.world)
    pipeline = initial_pipeline(config, world)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accumulation,
        cpu=not torch.cuda.is_available(),
    )
    trainable = TrainingStep(pipeline, config, world)  # the model and the training-only probe
    start = _latest_step(out) if resume else 0
    sam_stage = config.sam_pretrain_steps > 0
    if start:
        saved = _checkpoint_dir(out, start)
        trainable.load_state_dict(load_file(str(saved / "model.safetensors")))
        sam_stage = json.loads((saved / "complete").read_text())["sam_stage"]
    optimizer = _optimizer(trainable, config, sam_stage)
    if start:
        optimizer.load_state_dict(torch.load(saved / "optimizer.pt", weights_only=True))
    step_module, optimizer = accelerator.prepare(trainable, optimizer)
    pipeline.model.train()
    metrics = out / "metrics.csv"
    if accelerator.is_main_process:
        _prepare_metrics(metrics, start)
    end = min(stop_at or config.steps, config.steps)
    progress = tqdm(
        range(start, end),
        initial=start,
        total=config.steps,
        disable=not accelerator.is_main_process,
    )
    for step in progress:
        if sam_stage and step >= config.sam_pretrain_steps:
            sam_stage = False
            optimizer = accelerator.prepare(_optimizer(trainable, config, sam_stage))
        began = time.perf_counter()
        _set_learning_rates(optimizer, lr_factor(config, step))
        with accelerator.accumulate(step_module):
            losses = step_module(step, sam_stage)
            accelerator.backward(losses["total"])
            accelerator.clip_grad_norm_(trainable.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
        values = {k: float(v.detach()) for k, v in losses.items()}
        progress.set_postfix(
            {k: f"{values[k]:.3f}" for k in ("total", "ce", "bce", "point") if k in values}
        )
        if accelerator.is_main_process and (step + 1) % config.log_every == 0:
            _append_metrics(metrics, step + 1, values, time.perf_counter() - began)
        if accelerator.is_main_process and (step + 1) % config.checkpoint_every == 0:
            _save_checkpoint(out, step + 1, trainable, optimizer, sam_stage)
    if accelerator.is_main_process and end > start:
        _save_checkpoint(out, end, trainable, optimizer, sam_stage)
    if end < config.steps:
        return None
    final = out / "model"
    if accelerator.is_main_process:
        export_model(pipeline, final, (config.frames_sparse, config.frames_dense))
    return final


def export_checkpoint(run: Path, folder: Path, step: int | None = None) -> Path:
    """Export checkpoint ``step`` (default: the latest) of the run in ``run`` as a model in the
    published layout, LoRA folded in: the one command that turns a run into a ``--model``."""
    config = TrainConfig.load(run / "train_config.json")
    step = step or _latest_step(run)
    saved = _checkpoint_dir(run, step)
    if not (saved / "complete").is_file():
        raise ConfigError(
            f"{run} has no finished checkpoint at step {step}.",
            "Give a step listed under checkpoints/, or leave --step out.",
        )
    pipeline = initial_pipeline(config, WorldConfig(**config.world))
    trainable = TrainingStep(pipeline, config, WorldConfig(**config.world))
    trainable.load_state_dict(load_file(str(saved / "model.safetensors")))
    return export_model(pipeline, folder, (config.frames_sparse, config.frames_dense))


def export_model(
    pipeline: VideoLISAPipeline, folder: Path, default_frames: tuple[int, int]
) -> Path:
    """Save the trained model in the published layout, LoRA folded in, with its CLIP tower
    next to it (``vision_tower`` in config.json points there) and the frame counts it was
    trained with as its defaults."""
    model = pipeline.model
    merge_lora(model)
    model.config.default_frames = default_frames
    model.eval()
    save_checkpoint(model, pipeline.tokenizer, folder)
    tower = folder / "vision_tower"
    model.vision_tower.save_pretrained(tower)
    pipeline.preprocessor.clip_processor.save_pretrained(tower)
    config = json.loads((folder / "config.json").read_text())
    config["vision_tower"] = config["mm_vision_tower"] = "vision_tower"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _optimizer(trainable: TrainingStep, config: TrainConfig, sam_stage: bool):
    groups = parameter_groups(trainable.model, config, sam_stage)
    head_lr = config.head_lr or config.lr  # the training-only heads learn at the head's rate
    if trainable.appearance is not None:
        groups.append({"params": list(trainable.appearance.parameters()), "lr": head_lr})
    if not sam_stage and config.probe_weight > 0:
        groups.append({"params": list(trainable.probe.parameters()), "lr": head_lr})
    if trainable.patch_probe is not None:
        groups.append({"params": list(trainable.patch_probe.parameters()), "lr": head_lr})
    return torch.optim.AdamW(groups, betas=config.betas, weight_decay=config.weight_decay)


def _set_learning_rates(optimizer, factor: float) -> None:
    """Scale every group's base learning rate (kept in ``initial_lr``) by ``factor``."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


def _check_same_run(config: TrainConfig, out: Path) -> None:
    saved = out / "train_config.json"
    if saved.is_file() and TrainConfig.load(saved) != config:
        raise ConfigError(
            f"{out} holds a run with another configuration.",
            "Use a new output_dir, or the same config to resume.",
        )
    config.save(saved)


def _checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step_{step:07d}"


def _latest_step(out: Path) -> int:
    steps = [
        int(p.name.removeprefix("step_"))
        for p in (out / "checkpoints").glob("step_*")
        if (p / "complete").is_file()
    ]
    return max(steps, default=0)


def _save_checkpoint(out: Path, step: int, model: nn.Module, optimizer, sam_stage: bool) -> None:
    folder = _checkpoint_dir(out, step)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(partial / "model.safetensors"))
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    (partial / "complete").write_text(json.dumps({"step": step, "sam_stage": sam_stage}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    done = sorted((out / "checkpoints").glob("step_???????"))
    for old in done[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old)


def _prepare_metrics(path: Path, step: int) -> None:
    """Make ``path`` ready for a run (re)starting after ``step``: forget rows logged after it (by
    a run stopped before its next checkpoint), so the resumed rows follow on without repeats, and
    give a file written by an older version the current columns (its rows get them empty)."""
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    kept = [row for row in rows if int(row["step"]) <= step]
    if len(kept) < len(rows) or columns != list(METRICS_HEADER):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, METRICS_HEADER, restval="")
            writer.writeheader()
            writer.writerows(kept)


def _append_metrics(path: Path, step: int, values: dict[str, float], seconds: float) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(METRICS_HEADER)
        writer.writerow([step, *(f"{values.get(m, 0.0):.5f}" for m in METRICS), f"{seconds:.3f}"])
