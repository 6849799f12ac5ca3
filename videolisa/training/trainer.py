"""The training loop: toy-world examples, AdamW, checkpoints that resume exactly.

Sample ``i`` of a run is a pure function of the run's seed and ``i`` (step * batch + slot), so a
run resumed from a checkpoint sees exactly the data it would have seen. Distribution, mixed
precision and gradient accumulation come from ``accelerate``:

    accelerate launch -m videolisa train --config run.json
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from videolisa.errors import ConfigError
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.checkpoint import save_checkpoint as save_model
from videolisa.toyworld import SAMPLE_KINDS, check_kinds, train_sample
from videolisa.training import run_folder
from videolisa.training.auxiliary import (
    JOINT,
    NAMES,
    SAM,
    AuxiliaryInputs,
    Stage,
    build_auxiliaries,
)
from videolisa.training.config import TrainConfig
from videolisa.training.examples import build_example, example_losses, visual_features
from videolisa.training.losses import LossWeights
from videolisa.training.optimizer import build_optimizer, lr_factor, set_learning_rates
from videolisa.training.setup import initial_pipeline, merge_lora

logger = logging.getLogger(__name__)

METRICS = ("ce", "bce", "dice", *NAMES, "total", "embedding_std")
METRICS_HEADER = ("step", *METRICS, "seconds_per_step")  # the columns of metrics.csv


class TrainingStep(nn.Module):
    """One optimisation step's forward pass as a module, so accelerate can wrap it (DDP); it
    holds the model and the run's auxiliary losses (training-only parameters)."""

    def __init__(self, pipeline: VideoLISAPipeline, config: TrainConfig):
        super().__init__()
        self.model = pipeline.model
        self.pipeline = pipeline
        self.config = config
        self.weights = LossWeights(config.ce_weight, config.bce_weight, config.dice_weight)
        stages = (SAM, JOINT) if config.sam_pretrain_steps > 0 else (JOINT,)
        self.auxiliaries = build_auxiliaries(config.auxiliary_weights, self.model, stages)

    def forward(self, step: int, stage: Stage) -> dict[str, torch.Tensor]:
        """Mean losses over the step's ``batch_size`` samples (a loss a sample does not give
        counts as 0), and ``embedding_std``, the spread of the ``<TRK>`` embeddings."""
        sums: dict[str, torch.Tensor] = {}
        embeddings = []
        for slot in range(self.config.batch_size):
            index = step * self.config.batch_size + slot
            losses, sample_embeddings = self._sample_losses(index, stage)
            if sample_embeddings is not None:
                embeddings.append(sample_embeddings.detach())
            for name, value in losses.items():
                sums[name] = sums.get(name, 0) + value / self.config.batch_size
        stacked = torch.cat(embeddings) if embeddings else torch.zeros(0)
        spread = stacked.std(dim=0).mean() if len(stacked) > 1 else torch.zeros(())
        sums["embedding_std"] = spread.detach()
        return sums

    def _sample_losses(
        self, index: int, stage: Stage
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """The losses of sample ``index`` by name (``total`` their weighted sum) and its
        ``<TRK>`` embeddings (None in the SAM stage)."""
        config = self.config
        rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(7, index)))
        kind = sample_kind(config, index, active_kinds(config, index // config.batch_size))
        sample = train_sample(config.seed, index, kind, config.world)
        turn_index = int(rng.integers(len(sample.turns)))
        example = build_example(
            self.pipeline, sample, turn_index, config.frames_sparse, config.frames_dense
        )
        positions = None
        if config.mask_frames is not None:
            chosen = rng.choice(config.frames_dense, config.mask_frames, replace=False)
            positions = sorted(int(i) for i in chosen)
        features = visual_features(self.model, self.pipeline.preprocessor, example, positions)
        outputs = None
        losses: dict[str, torch.Tensor] = {}
        if stage == JOINT:
            outputs = example_losses(self.model, example, features, self.weights)
            losses = outputs.losses()
        inputs = AuxiliaryInputs(
            model=self.model,
            sample=sample,
            turn=sample.turns[turn_index],
            example=example,
            features=features,
            rng=rng,
            outputs=outputs,
            peers=self.auxiliaries,
        )
        # a zero that keeps the graph (backward works on a sample no loss has anything from)
        total = losses.get("total", features.sam_embeddings.sum() * 0)
        for name, auxiliary in self.auxiliaries.items():
            weight = auxiliary.weight_in(stage)
            loss = auxiliary.loss(inputs) if weight > 0 else None
            if loss is not None:
                losses[name] = loss
                total = total + weight * loss
        losses["total"] = total
        return losses, None if outputs is None else outputs.embeddings


def active_kinds(config: TrainConfig, step: int) -> tuple[str, ...]:
    """The toy-world kinds trained at ``step`` under the curriculum."""
    started = 1 + sum(step >= start for start in config.curriculum_steps)
    return check_kinds(config.toyworld_kinds[:started], SAMPLE_KINDS)


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
    run_folder.check_same_run(config, out)
    torch.manual_seed(config.seed)
    pipeline = initial_pipeline(config)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accumulation,
        cpu=not torch.cuda.is_available(),
    )
    trainable = TrainingStep(pipeline, config)
    start = run_folder.latest_step(out) if resume else 0
    stage: Stage = SAM if config.sam_pretrain_steps > 0 else JOINT
    if start:
        saved = run_folder.checkpoint_dir(out, start)
        trainable.load_state_dict(load_file(str(saved / "model.safetensors")))
        stage = SAM if json.loads((saved / "complete").read_text())["sam_stage"] else JOINT
    optimizer = build_optimizer(trainable.model, trainable.auxiliaries, config, stage)
    if start:
        optimizer.load_state_dict(torch.load(saved / "optimizer.pt", weights_only=True))
    step_module, optimizer = accelerator.prepare(trainable, optimizer)
    pipeline.model.train()
    metrics = out / "metrics.csv"
    if accelerator.is_main_process:
        run_folder.prepare_metrics(metrics, start, METRICS_HEADER)
    end = min(stop_at or config.steps, config.steps)
    progress = tqdm(
        range(start, end),
        initial=start,
        total=config.steps,
        disable=not accelerator.is_main_process,
    )
    for step in progress:
        if stage == SAM and step >= config.sam_pretrain_steps:
            stage = JOINT
            optimizer = accelerator.prepare(
                build_optimizer(trainable.model, trainable.auxiliaries, config, stage)
            )
        began = time.perf_counter()
        set_learning_rates(optimizer, lr_factor(config, step))
        with accelerator.accumulate(step_module):
            losses = step_module(step, stage)
            accelerator.backward(losses["total"])
            accelerator.clip_grad_norm_(trainable.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
        values = {k: float(v.detach()) for k, v in losses.items()}
        progress.set_postfix({k: f"{values[k]:.3f}" for k in ("total", "ce", "bce") if k in values})
        if accelerator.is_main_process and (step + 1) % config.log_every == 0:
            seconds = time.perf_counter() - began
            run_folder.append_metrics(metrics, METRICS_HEADER, step + 1, values, seconds)
        if accelerator.is_main_process and (step + 1) % config.checkpoint_every == 0:
            run_folder.save_checkpoint(out, step + 1, config, trainable, optimizer, stage == SAM)
    if accelerator.is_main_process and end > start:
        run_folder.save_checkpoint(out, end, config, trainable, optimizer, stage == SAM)
    if end < config.steps:
        return None
    final = out / "model"
    if accelerator.is_main_process:
        export_model(pipeline, final, (config.frames_sparse, config.frames_dense))
    return final


def export_checkpoint(run: Path, folder: Path, step: int | None = None) -> Path:
    """Export checkpoint ``step`` (default: the latest) of the run in ``run`` as a model in the
    published layout, LoRA folded in: the one command that turns a run into a ``--model``."""
    step = step or run_folder.latest_step(run)
    saved = run_folder.checkpoint_dir(run, step)
    if not (saved / "complete").is_file():
        raise ConfigError(
            f"{run} has no finished checkpoint at step {step}.",
            "Give a step listed under checkpoints/, or leave --step out.",
        )
    config = run_folder.checkpoint_config(run, step)
    pipeline = initial_pipeline(config)
    trainable = TrainingStep(pipeline, config)
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
    save_model(model, pipeline.tokenizer, folder)
    tower = folder / "vision_tower"
    model.vision_tower.save_pretrained(tower)
    pipeline.preprocessor.clip_processor.save_pretrained(tower)
    config = json.loads((folder / "config.json").read_text())
    config["vision_tower"] = config["mm_vision_tower"] = "vision_tower"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
