"""Training-only appearance queries: SAM learns to answer "the red circle" before the LLM asks.

One ``<TRK>`` prompt segments its object on every frame only if SAM's mask decoder can find an
object from its appearance. Point-prompt pretraining teaches SAM shapes but not that: on the
held-out attribute questions of attempt 5 a click on the target gave J 0.82 while the ``<TRK>``
prompt gave J 0.48, and questions naming only a colour scored lowest (J 0.03-0.22). The queries
are a learned prompt embedding per colour plus one per shape; their mask loss
(:class:`AppearanceMasks`: every appearance in the video, on the frames SAM encoded) trains the
decoder and the image encoder to answer appearance prompts from the first step, like the point
prompts; the alignment loss (:class:`AppearanceAlignment`) pulls each ``<TRK>`` embedding
towards its object's query, so the LLM lands in the space the decoder already understands.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld import COLOURS, SHAPES, Sample
from videolisa.training.auxiliary.base import JOINT, SAM, Auxiliary, AuxiliaryInputs
from videolisa.training.auxiliary.labels import appearance_ids
from videolisa.training.losses import dice_loss, sigmoid_bce_loss


class AppearanceQueries(nn.Module):
    """A (prompt_dim,) SAM prompt per (colour, shape): the sum of a colour and a shape
    embedding."""

    def __init__(self, prompt_dim: int) -> None:
        super().__init__()
        self.colour = nn.Embedding(len(COLOURS), prompt_dim)
        self.shape = nn.Embedding(len(SHAPES), prompt_dim)

    def forward(self, appearances: list[tuple[str, str]]) -> torch.Tensor:
        """(colour, shape) pairs -> (N, prompt_dim) prompts."""
        device = self.colour.weight.device
        colours, shapes = appearance_ids(appearances)
        return self.colour(colours.to(device)) + self.shape(shapes.to(device))

    def mask_losses(
        self,
        model: VideoLISAModel,
        sam_embeddings: torch.Tensor,
        sample: Sample,
        frames: list[int],
        resized_hw: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BCE and Dice of the masks SAM decodes for every appearance in ``sample``.

        Args:
            sam_embeddings: (F, C, e, e) SAM embeddings of the sample's ``frames``.

        The target of an appearance is the union of the objects that have it, on each frame.
        """
        appearances = sorted({(o.colour, o.shape) for o in sample.objects})
        prompts = self(appearances)  # (A, prompt_dim)
        height, width = sample.masks.shape[2:]
        low_res = decode_prompts(model, sam_embeddings, prompts)
        logits = model.upscale_masks(low_res, resized_hw, (height, width))  # (A * F, H, W)
        truth = np.stack(
            [
                sample.masks[
                    [i for i, o in enumerate(sample.objects) if (o.colour, o.shape) == a]
                ].any(axis=0)[frames]
                for a in appearances
            ]
        )  # (A, F, H, W)
        target = torch.from_numpy(truth).flatten(0, 1).to(logits.device)
        return sigmoid_bce_loss(logits, target), dice_loss(logits, target)

    def alignment_loss(
        self, embeddings: torch.Tensor, sample: Sample, track_objects: tuple[int, ...]
    ) -> torch.Tensor | None:
        """Mean squared distance of (K, prompt_dim) ``<TRK>`` embeddings to their objects'
        queries (held fixed), over the tracks whose appearance no other object shares; ``None``
        if there are none."""
        counts = Counter((o.colour, o.shape) for o in sample.objects)
        pairs = [
            (k, (sample.objects[i].colour, sample.objects[i].shape))
            for k, i in enumerate(track_objects)
        ]
        unique = [(k, a) for k, a in pairs if counts[a] == 1]
        if not unique:
            return None
        targets = self([a for _, a in unique]).detach()
        chosen = embeddings[[k for k, _ in unique]]
        return F.mse_loss(chosen.float(), targets.float())


def decode_prompts(
    model: VideoLISAModel, sam_embeddings: torch.Tensor, prompts: torch.Tensor
) -> torch.Tensor:
    """:meth:`VideoLISAModel.decode_masks` of each of (A, prompt_dim) ``prompts`` against the
    (F, C, e, e) ``sam_embeddings``, in one decoder call: (A * F, 1, 4e, 4e) low-res logits,
    prompt-major (A calls of F frames each cost most of a step in Python overhead)."""
    frames = len(sam_embeddings)
    sparse, dense = model.sam.prompt_encoder(points=None, boxes=None, masks=None)
    dtype = model.sam.mask_decoder.iou_token.weight.dtype
    pairs = prompts.to(dtype).repeat_interleave(frames, dim=0).unsqueeze(1)  # (A * F, 1, C)
    sparse = torch.cat([sparse.to(dtype).expand(len(pairs), -1, -1), pairs], dim=1)
    low_res, _ = model.sam.mask_decoder(
        image_embeddings=sam_embeddings.to(dtype).repeat(len(prompts), 1, 1, 1),
        image_pe=model.sam.prompt_encoder.get_dense_pe().to(dtype),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense.to(dtype),
        multimask_output=False,
    )
    return low_res


class AppearanceMasks(Auxiliary):
    """SAM segments every appearance of the sample from its learned query (BCE + Dice)."""

    name = "appearance_queries"
    stages = frozenset({SAM, JOINT})

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__(weight, model)
        self.queries = AppearanceQueries(model.sam.prompt_encoder.embed_dim)

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        features = inputs.features
        return sum(
            self.queries.mask_losses(
                inputs.model,
                features.sam_embeddings,
                inputs.sample,
                inputs.mask_frames,
                features.resized_hw,
            )
        )


class AppearanceAlignment(Auxiliary):
    """Each ``<TRK>`` embedding is pulled towards its object's query (of
    :class:`AppearanceMasks`, which must be on too)."""

    name = "appearance_align"
    requires = (AppearanceMasks.name,)

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        track_objects = inputs.turn.track_objects
        if not track_objects or inputs.outputs is None:
            return None
        queries = inputs.peers[AppearanceMasks.name].queries
        return queries.alignment_loss(inputs.outputs.embeddings, inputs.sample, track_objects)
