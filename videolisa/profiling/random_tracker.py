"""Trackers with random weights for ``bench --random-init --refine/--propagate NAME``: SAM 2.1
hiera-tiny and SAM 3's tracker at their published sizes (transformers' own config classes),
or, for ``scale="tiny"``, the same structures with every width and depth shrunk (also the
tests' trackers, ``tests/inference/tiny_trackers.py``). They run through the registry's
:class:`~videolisa.inference.trackers.session.SessionTracker`, as a downloaded one does.

Widths follow the real configs' ratios where the models assume them: the memory is 64 wide and
the rest twice that (SAM 3's memory attention takes 64-wide keys as a constant).
"""

from __future__ import annotations

from typing import Any

import torch

from videolisa.errors import ConfigError
from videolisa.inference.trackers.session import SessionTracker
from videolisa.profiling.modes import sam2_config

# name -> (the checkpoint whose sizes the full scale has, model class, processor class)
RANDOM_TRACKERS = {
    "sam2": ("facebook/sam2.1-hiera-tiny", "Sam2VideoModel", "Sam2VideoProcessor"),
    "sam3": ("facebook/sam3", "Sam3TrackerVideoModel", "Sam3TrackerVideoProcessor"),
}
IMAGE = 128  # tiny SAM 2 and EdgeTAM input side
SAM3_IMAGE, SAM3_PATCH = 112, 14  # tiny SAM 3 input side and patch
HIDDEN = 128  # twice the memory width (64), as in the real configs (256 and 64)
MEMORY = 64
VIDEO = {  # the parts of SAM 2's video config that EdgeTAM's and SAM 3's share
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


def random_tracker(
    name: str, device: torch.device, dtype: torch.dtype, scale: str = "full", seed: int = 0
) -> SessionTracker:
    """Tracker ``name`` (a key of :data:`RANDOM_TRACKERS`) with random weights on ``device``."""
    import transformers

    if name not in RANDOM_TRACKERS:
        raise ConfigError(
            f"No random-weight tracker {name!r}.", f"Use one of: {', '.join(RANDOM_TRACKERS)}."
        )
    stands_for, model_class, processor_class = RANDOM_TRACKERS[name]
    config = tracker_config(name, scale)
    torch.manual_seed(seed)
    with torch.device(device):
        model = getattr(transformers, model_class)(config)
    processor = tracker_processor(getattr(transformers, processor_class), config.image_size)
    label = f"random weights with {stands_for}'s sizes at scale {scale}"
    return SessionTracker(model.to(dtype), processor, name, label)


def tracker_config(name: str, scale: str) -> Any:
    """The video config of tracker ``name`` ("sam2", "sam3"; "edgetam" at scale tiny only)."""
    if scale == "tiny":
        tiny = {"sam2": tiny_sam2_config, "edgetam": tiny_edgetam_config, "sam3": tiny_sam3_config}
        return tiny[name]()
    if name == "sam2":
        return sam2_config(RANDOM_TRACKERS["sam2"][0])
    from transformers import Sam3TrackerVideoConfig

    return Sam3TrackerVideoConfig()  # its defaults are SAM 3's tracker: ViT-L/14 at 1008 px


def tracker_processor(processor_class: Any, side: int) -> Any:
    """A session processor resizing frames to ``side`` (SAM 2's image and video processors)."""
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import (
        Sam2VideoVideoProcessor,
    )

    size = {"height": side, "width": side}
    return processor_class(
        image_processor=Sam2ImageProcessor(size=size),
        video_processor=Sam2VideoVideoProcessor(size=size),
        target_size=side,
    )


def _sam2_vision():
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

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


def tiny_sam2_config():
    from transformers import Sam2VideoConfig

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


def tiny_edgetam_config():
    """EdgeTAM's video model on a tiny SAM 2 image encoder (the real one is a timm RepViT),
    with its spatial perceiver shrunk to 4 × 4 latents."""
    from transformers import EdgeTamVideoConfig

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


def tiny_sam3_config():
    from transformers import Sam3TrackerVideoConfig
    from transformers.models.sam3.configuration_sam3 import Sam3VisionConfig, Sam3ViTConfig

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
