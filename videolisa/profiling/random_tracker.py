"""SAM 2 video models with random weights for ``bench --random-init`` with ``--refine`` or
``--propagate``: SAM 2.1 hiera-tiny at its published size (transformers' own config classes,
sizes from :mod:`videolisa.profiling.modes`), or every width and depth shrunk at 128 px for
``scale="tiny"``, wrapped in the project's :class:`Sam2Propagator` like a downloaded one."""

from __future__ import annotations

import torch

from videolisa.errors import ConfigError
from videolisa.inference.propagation import Sam2Propagator
from videolisa.profiling.modes import sam2_config

RANDOM_TRACKERS = {"sam2": "facebook/sam2.1-hiera-tiny"}  # name -> the checkpoint it stands for
TINY_IMAGE = 128
TINY_HIDDEN = 128  # twice SAM 2's memory width (64), as in the published configs (256 and 64)


def random_propagator(
    name: str, device: torch.device, dtype: torch.dtype, scale: str = "full", seed: int = 0
) -> Sam2Propagator:
    """A random-weight tracker ``name`` (see :data:`RANDOM_TRACKERS`) on ``device``."""
    from transformers import Sam2VideoModel, Sam2VideoProcessor
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import (
        Sam2VideoVideoProcessor,
    )

    if name not in RANDOM_TRACKERS:
        raise ConfigError(
            f"No random-weight tracker {name!r}.", f"Use one of: {', '.join(RANDOM_TRACKERS)}."
        )
    config = _tiny_sam2_config() if scale == "tiny" else sam2_config(RANDOM_TRACKERS[name])
    side = config.image_size
    torch.manual_seed(seed)
    with torch.device(device):
        model = Sam2VideoModel(config)
    size = {"height": side, "width": side}
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size=size),
        video_processor=Sam2VideoVideoProcessor(size=size),
        target_size=side,
    )
    label = f"{name} (random weights, {RANDOM_TRACKERS[name]} sizes at scale {scale})"
    return Sam2Propagator(model.to(dtype), processor, label)


def _tiny_sam2_config():
    """SAM 2's structure with every width and depth shrunk, at 128 px."""
    from transformers import Sam2VideoConfig
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    image, hidden = TINY_IMAGE, TINY_HIDDEN
    backbone = Sam2HieraDetConfig(
        hidden_size=16,
        num_attention_heads=1,
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],
        image_size=[image, image],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[image // 4] * 2, [image // 8] * 2, [image // 16] * 2],
        fpn_hidden_size=hidden,
    )
    return Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={
            "hidden_size": hidden,
            "image_size": image,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": hidden,
            "mlp_dim": 2 * hidden,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": hidden,
        },
        image_size=image,
        memory_attention_hidden_size=hidden,
        memory_attention_feed_forward_hidden_size=2 * hidden,
        memory_attention_num_layers=1,
        memory_encoder_hidden_size=hidden,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=hidden,
        memory_fuser_embed_dim=hidden,
        memory_fuser_intermediate_dim=2 * hidden,
        memory_attention_rope_feat_sizes=[image // 16] * 2,
    )
