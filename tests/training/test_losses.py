"""The mask losses on known cases and the loss weights' validation."""

from __future__ import annotations

import math

import pytest
import torch

from videolisa.errors import ConfigError
from videolisa.training.losses import LossWeights, dice_loss, sigmoid_bce_loss


def _targets() -> torch.Tensor:
    targets = torch.zeros(2, 8, 8, dtype=torch.bool)
    targets[0, 2:5, 2:6] = True
    targets[1, :, :3] = True
    return targets


def _logits(masks: torch.Tensor, margin: float = 20.0) -> torch.Tensor:
    return torch.where(masks, margin, -margin)


def test_perfect_logits_give_almost_no_loss():
    targets = _targets()
    assert sigmoid_bce_loss(_logits(targets), targets) < 1e-6
    assert dice_loss(_logits(targets), targets) < 1e-6


def test_all_wrong_logits_give_a_large_loss():
    targets = _targets()
    assert sigmoid_bce_loss(_logits(~targets), targets) == pytest.approx(20.0, abs=1e-3)
    assert dice_loss(_logits(~targets), targets) == pytest.approx(1.0, abs=1e-4)


def test_zero_logits_give_log_two_and_the_dice_of_one_half():
    targets = _targets()
    logits = torch.zeros(targets.shape)
    assert sigmoid_bce_loss(logits, targets) == pytest.approx(math.log(2), abs=1e-6)
    # Per mask: 1 - 2 * 0.5 * n / (0.5 * 64 + n) for the n target pixels.
    expected = [1 - n / (32 + n) for n in (12, 24)]
    assert dice_loss(logits, targets) == pytest.approx(sum(expected) / 2, abs=1e-4)


def test_dice_of_an_empty_target():
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert dice_loss(_logits(empty), empty) < 1e-3  # nothing predicted: right
    assert dice_loss(_logits(~empty), empty) > 0.999  # everything predicted: wrong


def test_losses_average_over_masks():
    targets = _targets()
    logits = torch.stack([_logits(targets[0]), _logits(~targets[1])])
    assert dice_loss(logits, targets) == pytest.approx(0.5, abs=1e-4)
    assert sigmoid_bce_loss(logits, targets) == pytest.approx(10.0, abs=1e-3)


def test_losses_reject_mismatched_or_empty_inputs():
    with pytest.raises(ValueError):
        dice_loss(torch.zeros(2, 8, 8), torch.zeros(2, 8, 7))
    with pytest.raises(ValueError):
        sigmoid_bce_loss(torch.zeros(8, 8), torch.zeros(8, 8))
    with pytest.raises(ValueError):
        sigmoid_bce_loss(torch.zeros(0, 8, 8), torch.zeros(0, 8, 8))


def test_loss_weights_default_to_the_published_run_and_are_validated():
    assert LossWeights() == LossWeights(ce=1.0, bce=2.0, dice=0.5)
    for bad in ({"bce": -1.0}, {"dice": float("nan")}, {"ce": 0.0, "bce": 0.0, "dice": 0.0}):
        with pytest.raises(ConfigError):
            LossWeights(**bad)
