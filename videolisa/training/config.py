"""The training configuration: one JSON file per run, saved inside every checkpoint it writes.

    python -m videolisa train --config configs/toy.json

Validated on construction; unknown keys and values are refused with the allowed ones listed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videolisa.errors import ConfigError

DATA_KINDS = ("toyworld",)
INIT_MODES = ("scratch", "pretrained")
PRECISIONS = ("no", "fp16", "bf16")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA on the LLM (published recipe: r 8, alpha 16, dropout 0.05 on the fused qkv_proj,
    which the published target list ``q_proj,v_proj`` matched by substring)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("qkv_proj",)

    def __post_init__(self) -> None:
        _positive("lora.r", self.r)
        _positive("lora.alpha", self.alpha)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}.")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; written as ``train_config.json`` into each checkpoint."""

    output_dir: str  # checkpoints, metrics.csv and the final model go here
    init: str = "scratch"  # scratch: a small model built from scratch; pretrained: init_from
    init_from: str | None = None  # checkpoint folder or hub id (init = pretrained)
    data: str = "toyworld"  # generated on the fly, sample i from (seed, i)
    toyworld_kinds: tuple[str, ...] = ("attribute",)  # curriculum stages add more kinds
    curriculum_steps: tuple[int, ...] = ()  # step at which each later kind is added
    kind_weights: dict[str, float] = field(default_factory=dict)  # draw kinds by weight (else 1)
    world: dict[str, Any] = field(default_factory=dict)  # toy-world WorldConfig fields
    model_sizes: dict[str, Any] = field(default_factory=dict)  # TinySizes fields (scratch)
    sam_pretrain_steps: int = 0  # first steps: SAM learns from point prompts only
    lora: LoraSettings | None = None  # None: train the LLM fully (from scratch)
    frames_sparse: int = 8
    frames_dense: int = 2
    steps: int = 1000
    batch_size: int = 4
    grad_accumulation: int = 1
    lr: float = 3e-4
    head_lr: float | None = None  # <TRK> head and mask decoder; None: lr
    warmup_steps: int = 0  # learning rates rise linearly from 0 over the first steps
    decay_steps: int = 0  # ... and fall linearly to 0 over the last steps (0: no decay)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    ce_weight: float = 1.0
    bce_weight: float = 2.0
    dice_weight: float = 0.5
    point_prompt_weight: float = 0.0  # auxiliary SAM loss with point prompts (keeps SAM's skill)
    probe_weight: float = 0.0  # auxiliary: read the target's colour and shape from <TRK>
    appearance_weight: float = 0.0  # auxiliary: SAM segments learned colour+shape prompts
    appearance_align_weight: float = 0.0  # auxiliary: <TRK> embedding -> its object's prompt
    patch_probe_weight: float = 0.0  # auxiliary: dense video tokens name their patch's object
    freeze_sam_encoder: bool = True
    mixed_precision: str = "no"
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        _choice("init", self.init, INIT_MODES)
        _choice("data", self.data, DATA_KINDS)
        _choice("mixed_precision", self.mixed_precision, PRECISIONS)
        if self.init == "pretrained" and not self.init_from:
            raise ConfigError("init 'pretrained' needs init_from (a checkpoint folder or hub id).")
        if len(self.curriculum_steps) != max(0, len(self.toyworld_kinds) - 1):
            raise ConfigError(
                f"curriculum_steps has {len(self.curriculum_steps)} entries for "
                f"{len(self.toyworld_kinds)} toyworld_kinds.",
                "Give one start step for each kind after the first.",
            )
        unknown = sorted(set(self.kind_weights) - set(self.toyworld_kinds))
        if unknown or any(w <= 0 for w in self.kind_weights.values()):
            raise ConfigError(
                f"kind_weights must give positive weights to kinds of toyworld_kinds; got "
                f"{self.kind_weights}.",
                f"Use some of: {', '.join(self.toyworld_kinds)}.",
            )
        for name in (
            "frames_sparse",
            "frames_dense",
            "steps",
            "batch_size",
            "grad_accumulation",
            "checkpoint_every",
            "log_every",
        ):
            _positive(name, getattr(self, name))
        for name in ("sam_pretrain_steps", "warmup_steps", "decay_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more.")
        if self.warmup_steps + self.decay_steps > self.steps:
            raise ConfigError(
                f"warmup_steps + decay_steps ({self.warmup_steps + self.decay_steps}) exceed "
                f"steps ({self.steps}).",
                "Shorten the warm-up or the decay, or train for more steps.",
            )
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr <= 0):
            raise ConfigError("lr and head_lr must be positive.")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown training option(s): {', '.join(unknown)}.",
                f"Allowed: {', '.join(sorted(known))}.",
            )
        values = dict(values)
        if isinstance(values.get("lora"), dict):
            values["lora"] = LoraSettings(**_tuples(values["lora"]))
        return cls(**_tuples(values))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"No training config at {path}.", "Pass --config FILE.json.")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not valid JSON ({error}).") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def lr_factor(config: TrainConfig, step: int) -> float:
    """The multiplier of every base learning rate at ``step`` (0-based): a linear warm-up, a
    constant middle, a linear decay to 0 over the last ``decay_steps`` (warm-up, stable, decay).
    A pure function of the step, so a resumed run follows the same schedule."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    remaining = config.steps - step
    if remaining <= config.decay_steps:
        return remaining / config.decay_steps
    return 1.0


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """JSON lists -> tuples, so a loaded config equals the one that was saved."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} '{value}' is not known.", f"Allowed: {', '.join(allowed)}.")


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}.")
