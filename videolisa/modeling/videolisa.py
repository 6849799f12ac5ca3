"""The VideoLISA model: CLIP, projector, Phi-3 LLM, ``<TRK>`` head and SAM, wired together.

Each part is the library's own class (transformers' ``CLIPVisionModel`` and the LLM
``AutoModelForCausalLM`` builds from the checkpoint's text config, Phi-3's, segment-anything's
``Sam``); this module owns only the projector, the
``<TRK>`` head and the glue: Sparse-Dense video tokens, splicing them into the prompt, and
decoding one prompt embedding against every frame (One-Token-Seg-All).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import AutoModelForCausalLM, CLIPVisionConfig, CLIPVisionModel

from videolisa.modeling.config import VideoLISAConfig
from videolisa.modeling.sam import build_sam
from videolisa.modeling.tokenizer import IMAGE_PLACEHOLDER_ID


class VideoLISAModel(nn.Module):
    """The whole network. Module names map onto the published checkpoint's keys through
    :data:`videolisa.modeling.checkpoint.KEY_PREFIXES`."""

    def __init__(
        self,
        config: VideoLISAConfig,
        vision_config: CLIPVisionConfig,
        attn_implementation: str = "sdpa",
    ) -> None:
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.vision_tower = CLIPVisionModel(vision_config)
        self.mm_projector = nn.Sequential(
            nn.Linear(config.mm_hidden_size, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )
        self.llm = AutoModelForCausalLM.from_config(config.llm_config(attn_implementation))
        self.text_hidden_fcs = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, config.out_dim),
            nn.Dropout(0.0),
        )
        self.sam = build_sam(config.sam)

    def _apply(self, fn, recurse=True):
        # SAM's random positional encoding multiplies a float32 grid by its Gaussian matrix;
        # keep that matrix float32 whatever dtype the rest of the model is cast to.
        super()._apply(fn, recurse)
        pe_layer = self.sam.prompt_encoder.pe_layer
        matrix = pe_layer.positional_encoding_gaussian_matrix
        if matrix.is_floating_point() and matrix.dtype != torch.float32 and not matrix.is_meta:
            pe_layer.positional_encoding_gaussian_matrix = matrix.float()
        return self

    @property
    def device(self) -> torch.device:
        return self.mm_projector[0].weight.device

    # ----------------------------------------------------------------- vision -> LLM tokens
    def clip_patch_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLIP features of frames: (S, 3, P, P) normalised pixels -> (S, L, C) patch tokens
        of layer ``mm_vision_select_layer`` without CLS (L = 576 for ViT-L/14 at 336 px).

        The layers after the selected one never reach the output, so they are not run (for
        layer -2 of ViT-L/14's 24 that is one layer; the numbers are those of the whole
        tower's hidden state)."""
        encoder = _clip_encoder(self.vision_tower)
        layers = encoder.layers
        encoder.layers = layers[: self.config.mm_vision_select_layer % (len(layers) + 1)]
        try:
            outputs = self.vision_tower(pixel_values.to(self.vision_tower.dtype))
        finally:
            encoder.layers = layers
        return outputs.last_hidden_state[:, 1:]

    def video_tokens(
        self, patch_features: torch.Tensor, dense_positions: Sequence[int]
    ) -> torch.Tensor:
        """Sparse-Dense tokens: (S, L, C) -> (S + D * L, H): each sparse frame's projected
        tokens mean-pooled to one, then every token of the D dense frames."""
        weight = self.mm_projector[0].weight
        projected = self.mm_projector(patch_features.to(weight.dtype))
        sparse = projected.mean(dim=1)
        dense = projected[list(dense_positions)].flatten(0, 1)
        return torch.cat([sparse, dense], dim=0)

    def embed_prompt(self, input_ids: torch.Tensor, video_tokens: torch.Tensor) -> torch.Tensor:
        """LLM input embeddings: (N,) ids with one :data:`IMAGE_PLACEHOLDER_ID` and (V, H)
        video tokens -> (1, N - 1 + V, H), the video spliced in at the placeholder."""
        where = (input_ids == IMAGE_PLACEHOLDER_ID).nonzero().flatten()
        if where.numel() != 1:
            raise ValueError(f"expected one image placeholder in the prompt, found {where.numel()}")
        cut = int(where)
        embed = self.llm.get_input_embeddings()
        before = embed(input_ids[:cut])
        after = embed(input_ids[cut + 1 :])
        return torch.cat([before, video_tokens.to(before.dtype), after], dim=0).unsqueeze(0)

    def track_embeddings(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The ``<TRK>`` head: (K, H) last-layer states that predicted ``<TRK>`` -> (K, out_dim)
        SAM prompt embeddings."""
        weight = self.text_hidden_fcs[0].weight
        return self.text_hidden_fcs(hidden_states.to(weight.dtype))

    # ----------------------------------------------------------------------------- SAM
    def sam_image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """SAM encoder: (T, 3, S, S) normalised, padded frames -> (T, C, S/16, S/16)."""
        weight = self.sam.image_encoder.patch_embed.proj.weight
        return self.sam.image_encoder(images.to(weight.dtype))

    def decode_masks(
        self, image_embeddings: torch.Tensor, track_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One-Token-Seg-All: one (out_dim,) prompt against (T, C, e, e) frame embeddings in
        one call -> low-res mask logits (T, 1, 4e, 4e) and iou predictions (T, 1)."""
        dtype = self.sam.mask_decoder.iou_token.weight.dtype
        sparse, dense = self.sam.prompt_encoder(points=None, boxes=None, masks=None)
        sparse = torch.cat([sparse.to(dtype), track_embedding.view(1, 1, -1).to(dtype)], dim=1)
        return self.sam.mask_decoder(
            image_embeddings=image_embeddings.to(dtype),
            image_pe=self.sam.prompt_encoder.get_dense_pe().to(dtype),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense.to(dtype),
            multimask_output=False,
        )

    def upscale_masks(
        self,
        low_res_masks: torch.Tensor,
        resized_hw: tuple[int, int],
        original_hw: tuple[int, int],
    ) -> torch.Tensor:
        """(T, 1, 4e, 4e) logits -> (T, H, W) logits at the frame's original size."""
        masks = self.sam.postprocess_masks(low_res_masks.float(), resized_hw, original_hw)
        return masks[:, 0]


def _clip_encoder(tower: CLIPVisionModel) -> nn.Module:
    """The encoder (its ``layers``) of a CLIP vision tower; older transformers releases nest it
    under ``vision_model``."""
    return getattr(tower, "vision_model", tower).encoder
