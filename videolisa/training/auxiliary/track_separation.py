"""A training-only loss that keeps the tracks of one answer on different objects.

Attempt 7 answered "Segment the blue objects." with two tracks covering the same object (753 of
762 pixels shared), so the second object was never found. The answer's objects never overlap
(masks are visible pixels), so any pixel two tracks both claim is wrong for one of them; this
loss is that shared probability mass, per frame, over the smaller track's mass.
"""

from __future__ import annotations

import itertools

import torch

from videolisa.training.auxiliary.base import Auxiliary, AuxiliaryInputs


def shared_mass(probabilities: torch.Tensor) -> torch.Tensor:
    """(K, D, H, W) per-track probabilities, K >= 2 -> the mean over track pairs and frames of
    ``sum(p_i * p_j) / (min(sum p_i, sum p_j) + 1)``."""
    flat = probabilities.flatten(2)  # (K, D, P)
    mass = flat.sum(-1)  # (K, D)
    terms = [
        (flat[i] * flat[j]).sum(-1) / (torch.minimum(mass[i], mass[j]) + 1)
        for i, j in itertools.combinations(range(len(flat)), 2)
    ]
    return torch.stack(terms).mean()


class TrackSeparation(Auxiliary):
    """The probability mass two tracks of one answer share on the frames SAM encoded."""

    name = "track_separation"

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        outputs = inputs.outputs
        if outputs is None or outputs.mask_logits is None or len(outputs.mask_logits) < 2:
            return None
        return shared_mass(outputs.mask_logits.float().sigmoid())
