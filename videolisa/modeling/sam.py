"""SAM, built from segment-anything's classes with sizes read from a checkpoint.

The published checkpoint carries SAM ViT-H (1024 px) under ``model.visual_model.*``; smaller
checkpoints (the golden tiny one, the bundled toy model) carry smaller SAMs. Every size that the
tensors' shapes determine is read from them; the few they cannot (the mask decoder's head count)
come from the checkpoint config's ``sam_config`` or SAM's defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import partial

import torch
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)
from torch import nn

from videolisa.errors import CheckpointError

SAM_PREFIX = "model.visual_model."


@dataclass(frozen=True)
class SamArchitecture:
    """Every size of a SAM; defaults are SAM ViT-H, the published checkpoint's."""

    img_size: int = 1024  # input side after ResizeLongestSide and padding
    patch_size: int = 16
    encoder_embed_dim: int = 1280
    encoder_depth: int = 32
    encoder_num_heads: int = 16
    encoder_global_attn_indexes: tuple[int, ...] = (7, 15, 23, 31)
    window_size: int = 14
    mlp_ratio: float = 4.0
    prompt_embed_dim: int = 256  # also the <TRK> prompt embedding size
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_num_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise CheckpointError(
                f"SAM img_size {self.img_size} is not a multiple of its patch size "
                f"{self.patch_size}.",
                "The checkpoint's SAM tensors are inconsistent; re-export the checkpoint.",
            )

    @property
    def embedding_side(self) -> int:
        """Side of the image embedding grid (64 for ViT-H at 1024 px)."""
        return self.img_size // self.patch_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> SamArchitecture:
        """The sizes a config's ``sam_config`` records (unknown keys ignored; ViT-H's for the
        rest)."""
        known = {f.name for f in fields(cls)}
        sizes = {k: v for k, v in values.items() if k in known}
        for key in ("encoder_global_attn_indexes", "pixel_mean", "pixel_std"):
            if key in sizes:
                sizes[key] = tuple(sizes[key])
        return cls(**sizes)

    @classmethod
    def from_shapes(
        cls, shapes: Mapping[str, Sequence[int]], overrides: Mapping | None = None
    ) -> SamArchitecture:
        """Read the sizes from checkpoint tensor shapes (keys with the ``model.visual_model.``
        prefix); ``overrides`` (a config's ``sam_config``) supplies what shapes cannot say."""
        return cls.from_dict({**(overrides or {}), **_sizes_from_shapes(shapes)})


def _sizes_from_shapes(shapes: Mapping[str, Sequence[int]]) -> dict:
    def shape(name: str) -> Sequence[int]:
        try:
            return shapes[SAM_PREFIX + name]
        except KeyError:
            raise CheckpointError(
                f"The checkpoint has no SAM tensor '{SAM_PREFIX + name}'.",
                "Use a VideoLISA checkpoint (SAM weights under model.visual_model.).",
            ) from None

    def count(pattern: str) -> int:
        regex = re.compile(re.escape(SAM_PREFIX) + pattern)
        return len({m.group(1) for k in shapes if (m := regex.match(k))})

    embed_dim, _, patch, _ = shape("image_encoder.patch_embed.proj.weight")
    grid = shape("image_encoder.pos_embed")[1]
    depth = count(r"image_encoder\.blocks\.(\d+)\.")
    rel_sizes = [shape(f"image_encoder.blocks.{i}.attn.rel_pos_h")[0] for i in range(depth)]
    head_dim = shape("image_encoder.blocks.0.attn.rel_pos_h")[1]
    global_size = 2 * grid - 1
    window_sizes = {(s + 1) // 2 for s in rel_sizes if s != global_size}
    prompt_dim = shape("prompt_encoder.no_mask_embed.weight")[1]
    sizes = {
        "img_size": grid * patch,
        "patch_size": patch,
        "encoder_embed_dim": embed_dim,
        "encoder_depth": depth,
        "encoder_num_heads": embed_dim // head_dim,
        "encoder_global_attn_indexes": tuple(
            i for i, s in enumerate(rel_sizes) if s == global_size
        ),
        "mlp_ratio": shape("image_encoder.blocks.0.mlp.lin1.weight")[0] / embed_dim,
        "prompt_embed_dim": prompt_dim,
        "mask_in_chans": shape("prompt_encoder.mask_downscaling.3.weight")[0],
        "decoder_depth": count(r"mask_decoder\.transformer\.layers\.(\d+)\."),
        "decoder_mlp_dim": shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
        "iou_head_depth": count(r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\."),
        "iou_head_hidden_dim": shape("mask_decoder.iou_prediction_head.layers.0.weight")[0],
        "num_multimask_outputs": shape("mask_decoder.mask_tokens.weight")[0] - 1,
    }
    if window_sizes:
        sizes["window_size"] = window_sizes.pop()
    return sizes


class FrameBatchedMaskDecoder(MaskDecoder):
    """SAM's mask decoder, decoding prompts paired one-to-one with image embeddings.

    The stock ``predict_masks`` repeats every image embedding once per prompt, which suits one
    image with many prompts. One-Token-Seg-All needs the opposite: one ``<TRK>`` prompt against
    the embeddings of T frames. Here the prompt is expanded to the frames instead, so a whole
    clip decodes in one call and gives the same numbers as a per-frame loop.
    """

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks for B (image, prompt) pairs.

        Args:
            image_embeddings: (B, C, h, w), one per frame.
            image_pe: (1, C, h, w) positional encoding.
            sparse_prompt_embeddings: (B or 1, N, C); a batch of 1 is shared by all frames.
            dense_prompt_embeddings: (B or 1, C, h, w).

        Returns:
            masks (B, num_mask_tokens, 4h, 4w) logits and iou predictions (B, num_mask_tokens).
        """
        batch, channels, height, width = image_embeddings.shape
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat(
            (
                output_tokens.unsqueeze(0).expand(batch, -1, -1),
                sparse_prompt_embeddings.expand(batch, -1, -1),
            ),
            dim=1,
        )
        src = image_embeddings + dense_prompt_embeddings
        pos_src = image_pe.expand(batch, -1, -1, -1)
        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        upscaled = self.output_upscaling(
            src.transpose(1, 2).reshape(batch, channels, height, width)
        )
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        return masks, self.iou_prediction_head(iou_token_out)


def build_sam(arch: SamArchitecture) -> Sam:
    """A SAM with ``arch``'s sizes and a :class:`FrameBatchedMaskDecoder` (random weights)."""
    encoder = ImageEncoderViT(
        depth=arch.encoder_depth,
        embed_dim=arch.encoder_embed_dim,
        img_size=arch.img_size,
        mlp_ratio=arch.mlp_ratio,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_heads=arch.encoder_num_heads,
        patch_size=arch.patch_size,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=arch.encoder_global_attn_indexes,
        window_size=arch.window_size,
        out_chans=arch.prompt_embed_dim,
    )
    side = arch.embedding_side
    prompt_encoder = PromptEncoder(
        embed_dim=arch.prompt_embed_dim,
        image_embedding_size=(side, side),
        input_image_size=(arch.img_size, arch.img_size),
        mask_in_chans=arch.mask_in_chans,
    )
    decoder = FrameBatchedMaskDecoder(
        num_multimask_outputs=arch.num_multimask_outputs,
        transformer=TwoWayTransformer(
            depth=arch.decoder_depth,
            embedding_dim=arch.prompt_embed_dim,
            mlp_dim=arch.decoder_mlp_dim,
            num_heads=arch.decoder_num_heads,
        ),
        transformer_dim=arch.prompt_embed_dim,
        iou_head_depth=arch.iou_head_depth,
        iou_head_hidden_dim=arch.iou_head_hidden_dim,
    )
    return Sam(
        image_encoder=encoder,
        prompt_encoder=prompt_encoder,
        mask_decoder=decoder,
        pixel_mean=list(arch.pixel_mean),
        pixel_std=list(arch.pixel_std),
    )
