"""Where the time goes in each way of making masks (``bench --dry-run``), before downloading.

Three modes for a video of T frames, K tracks and D keyframes (the dense frames):

- ``one_token_seg_all`` (published): SAM's ViT encodes all T frames; its decoder runs T × K times.
- ``refine_sam2``: as above, then SAM 2 encodes all T frames and tracks K objects through them
  (memory attention, mask decoder and memory encoder per frame and object).
- ``propagate_sam2``: SAM's ViT encodes only the D keyframes (its decoder D × K times); SAM 2
  encodes all T frames and tracks the K objects.

FLOPs are counted by ``torch.utils.flop_counter`` on the ``meta`` device from the real
configurations (no weights): SAM's from the checkpoint, SAM 2's from its ``config.json`` or,
for the default ``facebook/sam2.1-hiera-tiny``, its published sizes. The LLM and CLIP, the same
in every mode, are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from videolisa.errors import CheckpointError
from videolisa.modeling.videolisa import VideoLISAModel

BF16 = 2
MODES = ("one_token_seg_all", "refine_sam2", "propagate_sam2")
# facebook/sam2.1-hiera-tiny (the SAM 2.1 release's sam2.1_hiera_t.yaml), for estimates offline.
SAM2_HIERA_TINY = {
    "backbone": {
        "hidden_size": 96,
        "num_attention_heads": 1,
        "blocks_per_stage": [1, 2, 7, 2],
        "embed_dim_per_stage": [96, 192, 384, 768],
        "num_attention_heads_per_stage": [1, 2, 4, 8],
        "window_size_per_stage": [8, 4, 14, 7],
        "global_attention_blocks": [5, 7, 9],
        "window_positional_embedding_background_size": [7, 7],
    },
    "backbone_channel_list": [768, 384, 192, 96],
}
KNOWN_SAM2 = {"facebook/sam2.1-hiera-tiny": SAM2_HIERA_TINY}


@dataclass(frozen=True)
class StageCosts:
    """GFLOP of one call of each stage, and bytes kept per frame."""

    sam_encoder: float  # SAM's ViT, one frame
    sam_decoder: float  # SAM's mask decoder, one frame and track
    sam2_encoder: float  # SAM 2's image encoder, one frame
    sam2_track: float  # SAM 2 memory attention + mask decoder + memory encoder, frame and object
    sam_embedding_bytes: int  # one frame's SAM embedding (bfloat16)
    sam2_feature_bytes: int  # one frame's SAM 2 image features (bfloat16)
    sam2_params: int


def sam2_config(name: str):
    """The Sam2VideoConfig of a SAM 2 checkpoint: its local config.json, or known sizes."""
    from transformers import AutoConfig, Sam2VideoConfig
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    if Path(name, "config.json").is_file():
        return Sam2VideoConfig(**AutoConfig.from_pretrained(name).to_dict())
    known = KNOWN_SAM2.get(name)
    if known is None:
        raise CheckpointError(
            f"The sizes of SAM 2 checkpoint {name} are not known offline.",
            f"Pass --refine-model with its local folder, or use one of: {', '.join(KNOWN_SAM2)}.",
        )
    backbone = Sam2HieraDetConfig(**known["backbone"], image_size=[1024, 1024])
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=known["backbone_channel_list"],
        backbone_feature_sizes=[[256, 256], [128, 128], [64, 64]],
        fpn_hidden_size=256,
    )
    return Sam2VideoConfig(vision_config=vision)


def stage_costs(model: VideoLISAModel, sam2_name: str) -> StageCosts:
    """FLOPs of each stage, counted on the meta device (``model`` may be a meta model)."""
    from transformers import Sam2VideoModel

    config = sam2_config(sam2_name)
    with torch.device("meta"):
        sam2 = Sam2VideoModel(config)
    sam = model.config.sam
    side = sam.embedding_side
    if True:  # no no_grad(): the FLOP counter's module hooks need autograd (meta: no memory)
        sam_encoder = _gflop(
            lambda: model.sam.image_encoder(
                torch.empty(1, 3, sam.img_size, sam.img_size, device="meta")
            )
        )
        grid = torch.empty(1, sam.prompt_embed_dim, side, side, device="meta")
        prompt = torch.empty(1, 2, sam.prompt_embed_dim, device="meta")  # no-point + <TRK>
        sam_decoder = _gflop(
            lambda: model.sam.mask_decoder(
                image_embeddings=grid,
                image_pe=grid,
                sparse_prompt_embeddings=prompt,
                dense_prompt_embeddings=grid,
                multimask_output=False,
            )
        )
        size = config.image_size
        image = torch.empty(1, 3, size, size, device="meta")
        features = sam2.get_image_features(image, return_dict=True)
        sam2_encoder = _gflop(lambda: sam2.get_image_features(image, return_dict=True))
        sam2_track = _gflop(lambda: _track_step(sam2, features))
    feature_elements = sum(t.numel() for t in features.fpn_hidden_states)
    return StageCosts(
        sam_encoder=sam_encoder,
        sam_decoder=sam_decoder,
        sam2_encoder=sam2_encoder,
        sam2_track=sam2_track,
        sam_embedding_bytes=sam.prompt_embed_dim * side * side * BF16,
        sam2_feature_bytes=feature_elements * BF16,
        sam2_params=sum(p.numel() for p in sam2.parameters()),
    )


def _track_step(sam2, features) -> None:
    """One object on one tracked frame: memory attention over ``num_maskmem`` memories and the
    object pointers, the mask decoder, and the memory encoder of the new mask."""
    config = sam2.config
    current = features.fpn_hidden_states[-1]  # (HW, 1, C)
    position = torch.empty_like(current)
    tokens, _, channels = current.shape
    side = int(tokens**0.5)
    mem_dim = config.memory_encoder_output_channels
    pointers = config.max_object_pointers_in_encoder * (channels // mem_dim)
    memory = torch.empty(config.num_maskmem * tokens + pointers, 1, mem_dim, device="meta")
    conditioned = sam2.memory_attention(
        current_vision_features=current,
        memory=memory,
        current_vision_position_embeddings=position,
        memory_posision_embeddings=torch.empty_like(memory),
        num_object_pointer_tokens=pointers,
    )
    image = conditioned.reshape(tokens, channels).T.reshape(1, channels, side, side)
    sparse = torch.empty(1, 1, 1, channels, device="meta")  # the padding point of tracking
    high_res = [
        t.permute(1, 2, 0).reshape(1, -1, *s)
        for t, s in zip(
            features.fpn_hidden_states[:-1], [(side * 4,) * 2, (side * 2,) * 2], strict=True
        )
    ]
    sam2.mask_decoder(
        image_embeddings=image,
        image_positional_embeddings=torch.empty_like(image),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=torch.empty_like(image),
        multimask_output=True,
        high_resolution_features=high_res,
    )
    sam2.memory_encoder(image, torch.empty(1, 1, side * 16, side * 16, device="meta"))


def _gflop(run) -> float:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


@dataclass(frozen=True)
class ModeEstimate:
    """GFLOP per stage and bytes kept for one mode on one video."""

    mode: str
    gflop: dict[str, float]
    kept_bytes: dict[str, int]

    @property
    def total_gflop(self) -> float:
        return sum(self.gflop.values())

    def to_json(self) -> dict:
        return {"gflop": self.gflop, "total_gflop": self.total_gflop, "kept_bytes": self.kept_bytes}


def mode_estimates(
    costs: StageCosts, num_frames: int, keyframes: int, tracks: int
) -> list[ModeEstimate]:
    """The three modes on a ``num_frames`` video with ``keyframes`` dense frames and
    ``tracks`` tracks."""
    sam2 = {
        "SAM 2 image encoder": costs.sam2_encoder * num_frames,
        "SAM 2 tracking": costs.sam2_track * num_frames * tracks,
    }
    sam2_kept = {"SAM 2 image features": costs.sam2_feature_bytes * num_frames}
    return [
        ModeEstimate(
            "one_token_seg_all",
            {
                "SAM ViT encoder": costs.sam_encoder * num_frames,
                "SAM mask decoder": costs.sam_decoder * num_frames * tracks,
            },
            {"SAM embeddings": costs.sam_embedding_bytes * num_frames},
        ),
        ModeEstimate(
            "refine_sam2",
            {
                "SAM ViT encoder": costs.sam_encoder * num_frames,
                "SAM mask decoder": costs.sam_decoder * keyframes * tracks,
                **sam2,
            },
            {"SAM embeddings": costs.sam_embedding_bytes * num_frames, **sam2_kept},
        ),
        ModeEstimate(
            "propagate_sam2",
            {
                "SAM ViT encoder": costs.sam_encoder * keyframes,
                "SAM mask decoder": costs.sam_decoder * keyframes * tracks,
                **sam2,
            },
            {"SAM embeddings": costs.sam_embedding_bytes * keyframes, **sam2_kept},
        ),
    ]
