"""A training-only probe that makes the LLM compute, at each object's video tokens, how that
object relates to the others across frames and objects.

Attempts 1-7 taught the LLM's inputs what is where (patch probe) and its ``<TRK>`` state what
the target looks like (attribute probe), but held-out motion and comparison questions stayed
near J&F 0.3: direction and speed exist only as differences between frames, size ranks and
counts only across objects, and the answer and mask losses alone gave a from-scratch LLM too
little signal to compute them. This probe reads, from the LLM's hidden state (layer
:data:`LAYER`) at every dense-frame token an object covers, on every dense frame but the first
(whose tokens cannot see another frame), the facts the toy world knows exactly
(:mod:`videolisa.toyworld.facts`: motion, speed and size ranks, counts, first appearance) and the
object's displacement since the previous dense frame. The question and answer tokens come
after the video and can then look these facts up by attention.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld.facts import FACT_CLASSES, object_facts, scene_of
from videolisa.training.auxiliary.base import Auxiliary, AuxiliaryInputs
from videolisa.training.auxiliary.patch_probe import patch_owners

LAYER = -3  # hidden_states index: the output of the third layer from the top
DISPLACEMENT_SCALE = 4.0  # displacement as a share of the frame side, times this


class FactHeads(nn.Module):
    """One linear read-out per fact of :data:`FACT_CLASSES`, plus ``extra`` regressed values."""

    def __init__(self, hidden_size: int, extra: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({n: nn.Linear(hidden_size, c) for n, c in FACT_CLASSES.items()})
        self.regression = nn.Linear(hidden_size, extra)

    def loss(
        self, states: torch.Tensor, labels: dict[str, np.ndarray], targets: torch.Tensor
    ) -> torch.Tensor:
        """Mean over the facts of the cross-entropy of (M, H) ``states`` against (M,) labels,
        plus the mean squared error of the (M, extra) regression ``targets``."""
        states = states.float()
        device = states.device
        cross = [
            F.cross_entropy(head(states), torch.from_numpy(labels[name]).to(device))
            for name, head in self.heads.items()
        ]
        regression = F.mse_loss(self.regression(states), targets.to(device).float())
        return torch.stack(cross).mean() + regression


class ObjectFactsProbe(Auxiliary):
    """The facts of the object under each dense-frame token, from the LLM's hidden state."""

    name = "object_facts"

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__(weight, model)
        self.read = FactHeads(model.config.hidden_size, extra=2)

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        if inputs.outputs is None or not inputs.sample.objects:
            return None
        sampling = inputs.features.sampling
        sparse, dense = len(sampling.sparse), len(sampling.dense)
        if dense < 2:
            return None
        per_frame = (len(inputs.features.video_tokens) - sparse) // dense
        frames = inputs.dense_frames
        masks = inputs.sample.masks[:, frames]
        owners = patch_owners(masks, math.isqrt(per_frame))  # (D, L)
        later = owners[1:]  # every dense frame but the first
        frame, patch = np.nonzero(later >= 0)
        if len(frame) == 0:
            return None
        objects = later[frame, patch]
        scene = scene_of(inputs.sample.objects, inputs.sample.masks)
        facts = object_facts(scene).as_dict()
        labels = {name: values[objects] for name, values in facts.items()}
        positions = scene.positions[:, frames]  # (N, D, 2)
        side = min(scene.height, scene.width)
        step = (positions[:, 1:] - positions[:, :-1]) / side * DISPLACEMENT_SCALE  # (N, D-1, 2)
        targets = torch.from_numpy(step[objects, frame]).clamp(-4, 4)
        start = inputs.outputs.video_start + sparse + per_frame  # first token of dense frame 1
        rows = torch.from_numpy(start + frame * per_frame + patch)
        states = inputs.outputs.hidden_states[LAYER][rows.to(inputs.outputs.ce.device)]
        return self.read.loss(states, labels, targets)
