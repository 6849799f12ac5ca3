"""The real-size model, built on the meta device, has exactly the published checkpoint's keys."""

from __future__ import annotations

import json

import pytest
from transformers import CLIPVisionConfig

from videolisa.errors import CheckpointError
from videolisa.modeling.checkpoint import build_empty_model, to_module_key, to_published_key
from videolisa.modeling.config import VideoLISAConfig

# openai/clip-vit-large-patch14-336's vision config (not downloadable here).
CLIP_VIT_L_336 = CLIPVisionConfig(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=336,
    patch_size=14,
    projection_dim=768,
    hidden_act="quick_gelu",
)


@pytest.fixture(scope="module")
def published(golden_dir):
    keys = json.loads((golden_dir.parent / "keys-videolisa-3.8b.json").read_text())
    raw = json.loads((golden_dir.parent / "config-videolisa-3.8b.guess.json").read_text())
    vision = set(keys["vision_tower_keys"])
    shapes = {k["key"]: tuple(k["shape"]) for k in keys["keys_full"]}
    hub = {k: v for k, v in shapes.items() if k not in vision}
    return raw, hub, {k: shapes[k] for k in vision}


def test_real_size_model_has_every_published_key_and_no_other(published):
    raw, hub_shapes, vision_shapes = published
    config = VideoLISAConfig.from_checkpoint(raw, hub_shapes)
    assert config.sam.img_size == 1024 and config.sam.encoder_embed_dim == 1280
    assert config.sam.encoder_global_attn_indexes == (7, 15, 23, 31)
    assert config.vocab_size == 32040
    model = build_empty_model(config, CLIP_VIT_L_336)
    assert all(p.is_meta for p in model.parameters())
    ours = {to_published_key(k): tuple(v.shape) for k, v in model.state_dict().items()}
    assert len(hub_shapes) == 797
    assert {k: v for k, v in ours.items() if k not in vision_shapes} == hub_shapes
    assert {k: v for k, v in ours.items() if k in vision_shapes} == vision_shapes
    params = sum(p.numel() for p in model.parameters())
    assert abs(params - 4.79e9) < 0.01e9


def test_llm_gets_the_transformers4_sliding_window(published):
    raw, hub_shapes, _ = published
    config = VideoLISAConfig.from_checkpoint(raw, hub_shapes)
    assert config.llm_config().sliding_window == raw["sliding_window"] + 1
    assert config.to_json_dict()["sliding_window"] == raw["sliding_window"]


def test_unknown_key_is_named():
    with pytest.raises(CheckpointError, match=r"model_extra\.weight"):
        to_module_key("model_extra.weight")
    assert to_module_key("model.visual_model.mask_decoder.iou_token.weight") == (
        "sam.mask_decoder.iou_token.weight"
    )
