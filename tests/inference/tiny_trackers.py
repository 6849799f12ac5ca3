"""Tiny randomly initialised trackers (transformers' own config classes, small sizes), saved as
checkpoint folders: SAM 2, EdgeTAM and SAM 3's tracker run in tests without a download.

Widths follow the real configs' ratios where the models assume them: the memory is 64 wide and
the rest twice that (SAM 3's memory attention takes 64-wide keys as a constant)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    EdgeTamVideoConfig,
    EdgeTamVideoModel,
    Sam2VideoConfig,
    Sam2VideoModel,
    Sam2VideoProcessor,
    Sam3TrackerVideoConfig,
    Sam3TrackerVideoModel,
    Sam3TrackerVideoProcessor,
)
from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig
from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
from transformers.models.sam3.configuration_sam3 import Sam3VisionConfig, Sam3ViTConfig

IMAGE = 128  # SAM 2 and EdgeTAM input side
SAM3_IMAGE, SAM3_PATCH = 112, 14
HIDDEN = 128  # twice the memory width (64), as in the real configs (256 and 64)
MEMORY = 64
# The parts of SAM 2's video config that EdgeTAM's shares.
VIDEO = {
    "memory_attention_hidden_size": HIDDEN,
    "memory_attention_feed_forward_hidden_size": 2 * HIDDEN,
    "memory_attention_num_layers": 1,
    "memory_encoder_hidden_size": HIDDEN,
    "memory_encoder_output_channels": MEMORY,
    "mask_downsampler_embed_dim": HIDDEN,
    "memory_fuser_embed_dim": HIDDEN,
    "memory_fuser_intermediate_dim": 2 * HIDDEN,
}
DECODER = {
    "hidden_size": HIDDEN,
    "mlp_dim": 2 * HIDDEN,
    "num_attention_heads": 2,
    "iou_head_hidden_dim": HIDDEN,
}


def _sam2_vision() -> Sam2VisionConfig:
    backbone = Sam2HieraDetConfig(
        hidden_size=16,
        num_attention_heads=1,
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],
        image_size=[IMAGE, IMAGE],
        window_positional_embedding_background_size=[4, 4],
    )
    return Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[IMAGE // 4] * 2, [IMAGE // 8] * 2, [IMAGE // 16] * 2],
        fpn_hidden_size=HIDDEN,
    )


def tiny_sam2_config() -> Sam2VideoConfig:
    return Sam2VideoConfig(
        vision_config=_sam2_vision(),
        prompt_encoder_config={
            "hidden_size": HIDDEN,
            "image_size": IMAGE,
            "mask_input_channels": 4,
        },
        mask_decoder_config=DECODER,
        image_size=IMAGE,
        memory_attention_rope_feat_sizes=[IMAGE // 16] * 2,
        **VIDEO,
    )


def tiny_edgetam_config() -> EdgeTamVideoConfig:
    """EdgeTAM's video model on a tiny SAM 2 image encoder (the real one is a timm RepViT),
    with its spatial perceiver shrunk to 4 × 4 latents."""
    return EdgeTamVideoConfig(
        vision_config=_sam2_vision(),
        prompt_encoder_config={
            "hidden_size": HIDDEN,
            "image_size": IMAGE,
            "mask_input_channels": 4,
        },
        mask_decoder_config=DECODER,
        image_size=IMAGE,
        memory_attention_rope_feat_sizes=[IMAGE // 16] * 2,
        memory_attention_rope_k_sizes=[4, 4],
        perceiver_resampler_num_latents=16,
        perceiver_resampler_num_latents_2d=16,
        perceiver_resampler_hidden_size=MEMORY,
        perceiver_resampler_mlp_intermediate_size=MEMORY,
        perceiver_resampler_attention_head_dim=MEMORY,
        perceiver_resampler_num_layers=1,
        **VIDEO,
    )


def tiny_sam3_config() -> Sam3TrackerVideoConfig:
    side = SAM3_IMAGE // SAM3_PATCH
    vit = Sam3ViTConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=SAM3_IMAGE,
        patch_size=SAM3_PATCH,
        window_size=4,
        global_attn_indexes=[1],
        pretrain_image_size=SAM3_IMAGE,
    )
    vision = Sam3VisionConfig(
        backbone_config=vit,
        fpn_hidden_size=HIDDEN,
        backbone_feature_sizes=[[4 * side] * 2, [2 * side] * 2, [side] * 2],
    )
    return Sam3TrackerVideoConfig(
        vision_config=vision,
        prompt_encoder_config={
            "hidden_size": HIDDEN,
            "image_size": SAM3_IMAGE,
            "patch_size": SAM3_PATCH,
            "mask_input_channels": 4,
        },
        mask_decoder_config=DECODER,
        image_size=SAM3_IMAGE,
        memory_attention_rope_feat_sizes=[side] * 2,
        **VIDEO,
    )


def _save(model, processor_class, size: int, folder: Path) -> Path:
    model.save_pretrained(folder)
    sides = {"height": size, "width": size}
    processor_class(
        image_processor=Sam2ImageProcessor(size=sides),
        video_processor=Sam2VideoVideoProcessor(size=sides),
        target_size=size,
    ).save_pretrained(folder)
    return folder


def tiny_sam2_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 2 video model and its processor to ``folder``."""
    torch.manual_seed(seed)
    return _save(Sam2VideoModel(tiny_sam2_config()), Sam2VideoProcessor, IMAGE, folder)


def tiny_edgetam_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny EdgeTAM video model and SAM 2's processor to ``folder``."""
    torch.manual_seed(seed)
    return _save(EdgeTamVideoModel(tiny_edgetam_config()), Sam2VideoProcessor, IMAGE, folder)


def tiny_sam3_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 3 tracker video model and its processor to ``folder``."""
    torch.manual_seed(seed)
    model = Sam3TrackerVideoModel(tiny_sam3_config())
    return _save(model, Sam3TrackerVideoProcessor, SAM3_IMAGE, folder)


TINY_TRACKERS = {
    "sam2": tiny_sam2_checkpoint,
    "edgetam": tiny_edgetam_checkpoint,
    "sam3": tiny_sam3_checkpoint,
}
