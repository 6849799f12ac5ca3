"""SAM's own task as an auxiliary loss: one click inside an object -> that object's mask.

It is the whole objective of the SAM-only warm-up (``sam_pretrain_steps``, weight 1 there), which
pretrains a from-scratch SAM on toy-world frames before the LLM learns to prompt it, and is kept
at its configured weight afterwards so SAM does not forget how to segment shapes while the
``<TRK>`` head is still learning (the failure mode of the first toy-model attempt).
"""

from __future__ import annotations

import numpy as np
import torch

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.training.auxiliary.base import JOINT, SAM, Auxiliary, AuxiliaryInputs
from videolisa.training.losses import dice_loss, sigmoid_bce_loss

MAX_CLICKS = 8  # (object, frame) pairs clicked per sample


class PointPrompts(Auxiliary):
    """BCE + Dice of SAM's answers to random clicks on the frames SAM encoded."""

    name = "point_prompts"
    stages = frozenset({SAM, JOINT})
    sam_stage_weight = 1.0

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        features = inputs.features
        losses = point_prompt_losses(
            inputs.model,
            features.sam_embeddings,
            inputs.sample.masks[:, inputs.mask_frames],
            features.resized_hw,
            inputs.rng,
        )
        return None if losses is None else sum(losses)


def sample_clicks(
    masks: np.ndarray, rng: np.random.Generator, max_clicks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random clicks inside visible objects.

    Args:
        masks: (N, F, H, W) bool visible pixels of N objects on F frames.

    Returns:
        frame index (B,), object index (B,) and click (B, 2) as (x, y) pixel centres, for up to
        ``max_clicks`` (object, frame) pairs whose mask is not empty.
    """
    visible = np.argwhere(masks.any(axis=(2, 3)))  # (pairs, 2): object, frame
    if len(visible) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2))
    chosen = visible[rng.permutation(len(visible))[:max_clicks]]
    clicks = []
    for obj, frame in chosen:
        ys, xs = np.nonzero(masks[obj, frame])
        pick = rng.integers(len(ys))
        clicks.append((xs[pick] + 0.5, ys[pick] + 0.5))
    return chosen[:, 1], chosen[:, 0], np.asarray(clicks, dtype=np.float32)


def point_prompt_losses(
    model: VideoLISAModel,
    sam_embeddings: torch.Tensor,
    masks: np.ndarray,
    resized_hw: tuple[int, int],
    rng: np.random.Generator,
    max_clicks: int = MAX_CLICKS,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """BCE and Dice of SAM's single-mask answers to random clicks.

    Args:
        sam_embeddings: (F, C, e, e) SAM embeddings of F frames.
        masks: (N, F, H, W) bool visible pixels of the N objects on those frames.

    Returns ``None`` when no object is visible.
    """
    frames, objects, clicks = sample_clicks(masks, rng, max_clicks)
    if len(frames) == 0:
        return None
    height, width = masks.shape[2:]
    device = sam_embeddings.device
    scale = torch.tensor([resized_hw[1] / width, resized_hw[0] / height], device=device)
    points = torch.from_numpy(clicks).to(device).mul(scale).unsqueeze(1)  # (B, 1, 2)
    labels = torch.ones(len(frames), 1, device=device)
    sparse, dense = model.sam.prompt_encoder(points=(points, labels), boxes=None, masks=None)
    low_res, _ = model.sam.mask_decoder(
        image_embeddings=sam_embeddings[torch.from_numpy(frames).to(device)],
        image_pe=model.sam.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
    )
    logits = model.upscale_masks(low_res, resized_hw, (height, width))
    truth = torch.from_numpy(masks[objects, frames]).to(device)
    return sigmoid_bce_loss(logits, truth), dice_loss(logits, truth)
