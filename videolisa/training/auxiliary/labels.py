"""Class ids of what the toy world knows about its objects, as probe targets."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from videolisa.toyworld import COLOURS, SHAPES


def appearance_ids(appearances: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(colour, shape) pairs -> their (N,) colour and (N,) shape class ids, in the order of
    :data:`COLOURS` and :data:`SHAPES`."""
    colours = torch.tensor([list(COLOURS).index(c) for c, _ in appearances], dtype=torch.long)
    shapes = torch.tensor([SHAPES.index(s) for _, s in appearances], dtype=torch.long)
    return colours, shapes
