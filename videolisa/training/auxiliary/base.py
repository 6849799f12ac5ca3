"""What an auxiliary loss is: a training-only term added to the recipe's losses.

An auxiliary has a ``name`` (its key in the config's ``auxiliary_weights`` and its column in
``metrics.csv``), a ``weight`` (from the config), the ``stages`` it runs in (the SAM-only
warm-up and/or the joint steps), its own parameters (trained at the head's learning rate, never
saved with the model), optionally model parameters it needs trained in a stage where they would
otherwise be frozen, and a ``loss`` computed from one sample's :class:`AuxiliaryInputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld import Sample, Turn
from videolisa.training.examples import ExampleOutputs, TrainingExample, VisualFeatures

Stage = Literal["sam", "joint"]
SAM: Stage = "sam"  # the first ``sam_pretrain_steps``: only SAM (and the encoders) train
JOINT: Stage = "joint"  # every later step: the whole model on the conversation turn
STAGES: tuple[Stage, ...] = (SAM, JOINT)


@dataclass
class AuxiliaryInputs:
    """One training sample, as far as it has been computed when the auxiliaries run."""

    model: VideoLISAModel
    sample: Sample
    turn: Turn  # the turn being learned
    example: TrainingExample
    features: VisualFeatures
    rng: np.random.Generator  # the sample's own stream (a function of seed and sample index)
    outputs: ExampleOutputs | None  # the LLM's pass over the turn; None in the SAM stage
    peers: Mapping[str, Auxiliary]  # every auxiliary of the run, by name

    @property
    def dense_frames(self) -> list[int]:
        """Indices into the video of the D dense frames (all of whose tokens the LLM sees)."""
        return list(self.example.sampling.dense_frames)

    @property
    def mask_frames(self) -> list[int]:
        """Indices into the video of the M frames SAM encoded (the dense frames, or some)."""
        return list(self.features.mask_frames)


class Auxiliary(nn.Module):
    """Base of the auxiliary losses; subclasses set ``name`` and ``stages`` and define
    :meth:`loss`, and are listed in :data:`videolisa.training.auxiliary.AUXILIARIES`."""

    name: ClassVar[str]
    stages: ClassVar[frozenset[Stage]] = frozenset({JOINT})
    sam_stage_weight: ClassVar[float | None] = None  # a fixed weight in the SAM stage; None: weight
    requires: ClassVar[tuple[str, ...]] = ()  # auxiliaries this one reads (must be on as well)

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__()
        self.weight = weight

    @classmethod
    def stage_weight(cls, weight: float, stage: Stage) -> float:
        """The loss's weight in ``stage`` when configured with ``weight``; 0 where it does not
        run."""
        if stage not in cls.stages:
            return 0.0
        if stage == SAM and cls.sam_stage_weight is not None:
            return cls.sam_stage_weight
        return weight

    def weight_in(self, stage: Stage) -> float:
        """This loss's weight in ``stage``."""
        return self.stage_weight(self.weight, stage)

    def model_parameters(self, model: VideoLISAModel, stage: Stage) -> list[nn.Parameter]:
        """Parameters of ``model`` this loss needs trained in ``stage`` beyond the stage's own
        (they train at the body's learning rate)."""
        return []

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        """The scalar loss of one sample, or ``None`` when the sample gives it nothing to learn
        (then it is left out of the step's mean, as if 0)."""
        raise NotImplementedError
