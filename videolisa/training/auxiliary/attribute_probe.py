"""A training-only probe that makes the LLM state predicting ``<TRK>`` name its object.

A from-scratch LLM starts with nearly the same hidden state at every position that predicts
``<TRK>``, the mask decoder learns to ignore a prompt that never changes, and the pair settles
on "mask every object" (the first toy-model attempt, and this project's attempts 1 and 2 of the
bundled model: the embeddings' spread fell to 3e-4 while Dice stayed at 0.6, and in attempt 2,
with the probe reading the head's output, every ReLU unit of the head died within 100 steps).
Asking a linear probe to read the target's colour and shape from the LLM state itself breaks
that tie whatever the head does: the state must carry the object's identity, which is what the
decoder needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld import COLOURS, SHAPES
from videolisa.training.auxiliary.base import Auxiliary, AuxiliaryInputs
from videolisa.training.auxiliary.labels import appearance_ids


class AttributeProbe(Auxiliary):
    """Linear read-outs of colour and shape from the (K, H) ``<TRK>`` states."""

    name = "attribute_probe"

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__(weight, model)
        hidden = model.config.hidden_size
        self.colour = nn.Linear(hidden, len(COLOURS))
        self.shape = nn.Linear(hidden, len(SHAPES))

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        """Cross-entropy of the colour and shape of each track's object."""
        track_objects = inputs.turn.track_objects
        if not track_objects or inputs.outputs is None:
            return None
        states = inputs.outputs.track_states
        objects = [inputs.sample.objects[i] for i in track_objects]
        colours, shapes = appearance_ids([(o.colour, o.shape) for o in objects])
        device = states.device
        return F.cross_entropy(self.colour(states), colours.to(device)) + F.cross_entropy(
            self.shape(states), shapes.to(device)
        )
