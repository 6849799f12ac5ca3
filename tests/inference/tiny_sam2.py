"""A tiny randomly initialised SAM 2 video model (transformers' own config classes, small sizes,
128-px input), saved as a checkpoint folder: SAM 2 propagation runs in tests without a download."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor
from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig
from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

IMAGE = 128
HIDDEN = 128  # twice SAM 2's memory width (64), as in the real configs (256 and 64)


def tiny_sam2_config() -> Sam2VideoConfig:
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
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[IMAGE // 4] * 2, [IMAGE // 8] * 2, [IMAGE // 16] * 2],
        fpn_hidden_size=HIDDEN,
    )
    return Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={
            "hidden_size": HIDDEN,
            "image_size": IMAGE,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": HIDDEN,
            "mlp_dim": 2 * HIDDEN,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": HIDDEN,
        },
        image_size=IMAGE,
        memory_attention_hidden_size=HIDDEN,
        memory_attention_feed_forward_hidden_size=2 * HIDDEN,
        memory_attention_num_layers=1,
        memory_encoder_hidden_size=HIDDEN,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=HIDDEN,
        memory_fuser_embed_dim=HIDDEN,
        memory_fuser_intermediate_dim=2 * HIDDEN,
        memory_attention_rope_feat_sizes=[IMAGE // 16] * 2,
    )


def tiny_sam2_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write the tiny model and its processor to ``folder``."""
    torch.manual_seed(seed)
    Sam2VideoModel(tiny_sam2_config()).save_pretrained(folder)
    size = {"height": IMAGE, "width": IMAGE}
    Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size=size),
        video_processor=Sam2VideoVideoProcessor(size=size),
        target_size=IMAGE,
    ).save_pretrained(folder)
    return folder
