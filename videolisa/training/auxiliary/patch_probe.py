"""A training-only probe that makes every dense-frame video token say what it shows.

The published CLIP tower comes pretrained; the toy one starts from random weights and, in the
bundled model's first runs, learned only what the ``<TRK>`` mask loss pulled through a 4-layer
LLM: the model segmented what a question named (the name is in the question) but answered
"What shape is the red object?" at chance (text answers 20 % exact), because nothing in the
video tokens said "red" or "triangle" where the red triangle was. This probe asks a linear
read-out of each dense-frame token (after the projector, in the LLM's space) for the colour and
shape of the object covering its patch, or background, so the LLM receives tokens it can look
things up in. With it, CLIP and the projector train during the SAM-only steps too.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld import COLOURS, SHAPES, ObjectSpec
from videolisa.training.auxiliary.base import JOINT, SAM, Auxiliary, AuxiliaryInputs, Stage
from videolisa.training.auxiliary.labels import appearance_ids

MIN_COVER = 0.25  # an object labels a patch when it covers at least this share of it


def patch_owners(masks: np.ndarray, grid: int) -> np.ndarray:
    """Which object covers each CLIP patch: (N, D, H, W) bool masks -> (D, grid * grid) int64,
    the index of the object covering the largest share (at least :data:`MIN_COVER`) of the
    patch, -1 for background.

    The patches are those of CLIP's input: the shortest side resized to the crop size and the
    centre square cropped, i.e. the centre ``min(H, W)`` square of the frame, cut into
    ``grid`` x ``grid`` cells in row-major order (the order of CLIP's patch tokens).
    """
    count, dense, height, width = masks.shape
    if count == 0:
        return np.full((dense, grid * grid), -1, dtype=np.int64)
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = torch.from_numpy(masks[:, :, top : top + side, left : left + side]).float()
    cover = F.adaptive_avg_pool2d(square.flatten(0, 1), grid)  # (N * D, g, g)
    cover = cover.view(count, dense, grid * grid)
    best, owner = cover.max(dim=0)  # (D, g * g)
    owner[best < MIN_COVER] = -1
    return owner.numpy()


def dense_tokens(inputs: AuxiliaryInputs) -> torch.Tensor:
    """The (D, L, H) dense-frame video tokens of ``inputs`` (L = grid * grid per frame)."""
    features = inputs.features
    tokens = features.video_tokens[len(features.sampling.sparse) :]
    return tokens.view(len(features.sampling.dense), -1, tokens.shape[-1])


class PatchProbe(Auxiliary):
    """Linear read-outs of colour and shape (each with a background class) from video tokens."""

    name = "patch_probe"
    stages = frozenset({SAM, JOINT})

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__(weight, model)
        hidden = model.config.hidden_size
        self.colour = nn.Linear(hidden, len(COLOURS) + 1)
        self.shape = nn.Linear(hidden, len(SHAPES) + 1)

    def model_parameters(self, model: VideoLISAModel, stage: Stage) -> list[nn.Parameter]:
        """In the SAM stage the probe teaches the CLIP tower and the projector."""
        if stage != SAM:
            return []
        return [*model.vision_tower.parameters(), *model.mm_projector.parameters()]

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        masks = inputs.sample.masks[:, inputs.dense_frames]
        return self.token_loss(dense_tokens(inputs), masks, inputs.sample.objects)

    def token_loss(
        self, tokens: torch.Tensor, masks: np.ndarray, objects: tuple[ObjectSpec, ...]
    ) -> torch.Tensor:
        """Cross-entropy of each token's colour and shape (scalar).

        Args:
            tokens: (D, L, H) the dense frames' video tokens, L = grid * grid.
            masks: (N, D, H, W) bool, every object's mask on the dense frames.
            objects: the N objects.

        Background patches outnumber object patches many times over, so the two are averaged
        separately and weighted equally.
        """
        count = tokens.shape[1]
        grid = math.isqrt(count)
        if grid * grid != count:
            raise ValueError(f"{count} tokens per frame do not form a square grid")
        owner = torch.from_numpy(patch_owners(masks, grid)).flatten()  # (D * L,)
        colours, shapes = appearance_ids([(o.colour, o.shape) for o in objects])
        # the class after the objects' is background, so owner -1 indexes it
        colour_of = torch.cat([colours, torch.tensor([len(COLOURS)])])
        shape_of = torch.cat([shapes, torch.tensor([len(SHAPES)])])
        device = tokens.device
        states = tokens.flatten(0, 1).float()
        per_token = F.cross_entropy(
            self.colour(states), colour_of[owner].to(device), reduction="none"
        ) + F.cross_entropy(self.shape(states), shape_of[owner].to(device), reduction="none")
        on_object = (owner >= 0).to(device)
        parts = [per_token[on_object], per_token[~on_object]]
        return torch.stack([part.mean() for part in parts if part.numel()]).mean()
