"""The mask losses of LISA / VideoLISA and the weights that combine them with the text loss.

Both mask losses take (M, H, W) logits and targets, one row per mask, and average over the M
masks, as the published training does once its per-batch sums are divided by the mask count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from videolisa.errors import ConfigError

DICE_SCALE = 1000.0  # LISA divides predictions and targets by this before summing
DICE_EPS = 1e-6  # LISA's smoothing, added to the scaled sums


def sigmoid_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel sigmoid binary cross-entropy: (M, H, W) logits and 0/1 targets -> scalar,
    the mean over each mask's pixels, then over the M masks."""
    _check_shapes(logits, targets)
    per_pixel = F.binary_cross_entropy_with_logits(
        logits.float(), targets.float(), reduction="none"
    )
    return per_pixel.flatten(1).mean(1).mean()


def dice_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    scale: float = DICE_SCALE,
    eps: float = DICE_EPS,
) -> torch.Tensor:
    """Dice loss on ``sigmoid(logits)``: (M, H, W) logits and 0/1 targets -> scalar.

    Per mask ``1 - (2 * inter / scale + eps) / ((sum_p + sum_t) / scale + eps)``, averaged over
    the M masks. With LISA's ``scale`` 1000 and ``eps`` 1e-6 this is
    ``1 - (2 * inter + 1e-3) / (sum_p + sum_t + 1e-3)``: a smoothing of 0.001 pixel, so an empty
    target scores ~0 when the prediction is empty too and ~1 when it is not.
    """
    _check_shapes(logits, targets)
    probs = logits.float().sigmoid().flatten(1)
    truth = targets.float().flatten(1)
    numerator = 2 * (probs / scale * truth).sum(-1)
    denominator = (probs / scale).sum(-1) + (truth / scale).sum(-1)
    return (1 - (numerator + eps) / (denominator + eps)).mean()


def _check_shapes(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.shape != targets.shape or logits.dim() != 3:
        raise ValueError(
            f"expected (M, H, W) logits and targets of one shape, got {tuple(logits.shape)} "
            f"and {tuple(targets.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError("no masks to compute a loss on")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the total loss; defaults are the published run's."""

    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5

    def __post_init__(self) -> None:
        for name in ("ce", "bce", "dice"):
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise ConfigError(f"The {name} loss weight must be 0 or more, got {value}.")
        if self.ce + self.bce + self.dice == 0:
            raise ConfigError("All loss weights are 0.", "Give at least one a positive weight.")
