"""A training-only probe that makes the LLM state predicting ``<TRK>`` name its object.

A from-scratch LLM starts with nearly the same hidden state at every position that predicts
``<TRK>``, the mask decoder learns to ignore a prompt that never changes, and the pair settles
on "mask every object" (the first toy-model attempt, and this project's attempts 1 and 2 of the
bundled model: the embeddings' spread fell to 3e-4 while Dice stayed at 0.6, and in attempt 2,
with the probe reading the head's output, every ReLU unit of the head died within 100 steps).
Asking a linear probe to read the target's colour and shape from the LLM state itself breaks
that tie whatever the head does: the state must carry the object's identity, which is what the
decoder needs. The probe is not part of the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videolisa.toyworld import COLOURS, SHAPES, Sample
from videolisa.training.appearance import appearance_ids


class AttributeProbe(nn.Module):
    """Linear read-outs of colour and shape from (K, H) LLM states."""

    def __init__(self, embedding_size: int) -> None:
        super().__init__()
        self.colour = nn.Linear(embedding_size, len(COLOURS))
        self.shape = nn.Linear(embedding_size, len(SHAPES))

    def loss(self, states: torch.Tensor, sample: Sample, track_objects: tuple[int, ...]):
        """Cross-entropy of the colour and shape of each track's object (scalar)."""
        objects = [sample.objects[i] for i in track_objects]
        colours, shapes = appearance_ids([(o.colour, o.shape) for o in objects])
        device = states.device
        return F.cross_entropy(self.colour(states), colours.to(device)) + F.cross_entropy(
            self.shape(states), shapes.to(device)
        )
