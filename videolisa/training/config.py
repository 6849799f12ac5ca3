"""The training configuration: one JSON file per run, saved inside every checkpoint it writes.

    python -m videolisa train --config configs/toy.json

Validated on construction; unknown keys and values are refused with the allowed ones listed.
Nested settings are typed: ``world`` a :class:`WorldConfig`, ``model_sizes`` a
:class:`TinySizes`, ``lora`` :class:`LoraSettings`, ``auxiliary_weights`` the weights of the
registered auxiliary losses (:mod:`videolisa.training.auxiliary`). Files written before the
auxiliary losses were nested (``probe_weight`` etc. at the top level) still load.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videolisa.errors import ConfigError
from videolisa.modeling.tiny import TinySizes
from videolisa.toyworld import SAMPLE_KINDS, WorldConfig, check_kinds
from videolisa.training.auxiliary import check_weights

DATA_KINDS = ("toyworld",)
INIT_MODES = ("scratch", "pretrained")
PRECISIONS = ("no", "fp16", "bf16")
# top-level weights of files written before auxiliary_weights, and their auxiliary's name
LEGACY_WEIGHTS = {
    "point_prompt_weight": "point_prompts",
    "probe_weight": "attribute_probe",
    "appearance_weight": "appearance_queries",
    "appearance_align_weight": "appearance_align",
    "patch_probe_weight": "patch_probe",
}


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
    world: WorldConfig = field(default_factory=WorldConfig)  # the toy world trained on
    model_sizes: TinySizes = field(default_factory=TinySizes)  # init scratch: the model's sizes
    sam_pretrain_steps: int = 0  # first steps: SAM learns from point prompts only
    lora: LoraSettings | None = None  # None: train the LLM fully (from scratch)
    frames_sparse: int = 8
    frames_dense: int = 2
    mask_frames: int | None = None  # SAM and the mask losses on this many dense frames (random)
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
    # training-only losses by registered name (videolisa.training.auxiliary); absent: off
    auxiliary_weights: dict[str, float] = field(default_factory=dict)
    freeze_sam_encoder: bool = True
    mixed_precision: str = "no"
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "world", _nested(WorldConfig, self.world, "world"))
        object.__setattr__(self, "model_sizes", _nested(TinySizes, self.model_sizes, "model_sizes"))
        object.__setattr__(self, "lora", _nested(LoraSettings, self.lora, "lora"))
        check_weights(self.auxiliary_weights)
        _choice("init", self.init, INIT_MODES)
        _choice("data", self.data, DATA_KINDS)
        _choice("mixed_precision", self.mixed_precision, PRECISIONS)
        if self.init == "pretrained" and not self.init_from:
            raise ConfigError("init 'pretrained' needs init_from (a checkpoint folder or hub id).")
        check_kinds(self.toyworld_kinds, SAMPLE_KINDS)
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
        if self.mask_frames is not None and not 1 <= self.mask_frames <= self.frames_dense:
            raise ConfigError(
                f"mask_frames must be between 1 and frames_dense ({self.frames_dense}), got "
                f"{self.mask_frames}.",
                "Leave it out to compute the mask losses on every dense frame.",
            )
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
        values = _migrate(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown training option(s): {', '.join(unknown)}.",
                f"Allowed: {', '.join(sorted(known))}.",
            )
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


def _migrate(values: dict[str, Any]) -> dict[str, Any]:
    """A config written before ``auxiliary_weights``: its top-level auxiliary weights moved
    there (weights of 0 dropped: off is the default)."""
    legacy = {k: values[k] for k in LEGACY_WEIGHTS if k in values}
    if not legacy:
        return values
    if "auxiliary_weights" in values:
        raise ConfigError(
            f"{', '.join(legacy)} and auxiliary_weights are both given.",
            f"Move them into auxiliary_weights as {', '.join(LEGACY_WEIGHTS[k] for k in legacy)}.",
        )
    moved = {LEGACY_WEIGHTS[k]: w for k, w in legacy.items() if w}
    kept = {k: v for k, v in values.items() if k not in LEGACY_WEIGHTS}
    return {**kept, "auxiliary_weights": moved}


def _nested(kind: type, values: Any, name: str) -> Any:
    """``values`` as a ``kind`` dataclass: a dict's keys checked against its fields (lists
    become tuples); an instance (or None) as it is."""
    if not isinstance(values, dict):
        return values
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"Unknown {name} option(s): {', '.join(unknown)}.",
            f"Allowed: {', '.join(sorted(known))}.",
        )
    return kind(**_tuples(values))


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """JSON lists -> tuples, so a loaded config equals the one that was saved."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} '{value}' is not known.", f"Allowed: {', '.join(allowed)}.")


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}.")
