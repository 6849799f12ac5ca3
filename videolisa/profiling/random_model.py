"""The published architecture with random weights (``bench --random-init``): the real model's
every size, built from its config alone, so it can be timed and checked on any GPU without
downloading the checkpoint.

The config is a VideoLISA ``config.json`` (the shared golden guess of the published one by
default); CLIP is ViT-L/14-336 and SAM is ViT-H at their published sizes, because the published
checkpoint's config names them and does not record their sizes. The tokenizer is a small
SentencePiece one trained on the bench's prompts (the published one is part of the download);
its ids lie inside the published vocabulary, so the embedding tables keep their real size.

``scale="tiny"`` shrinks every width and depth (LLM 2 layers of 64, CLIP 3 of 32, SAM 2 of 32
at 128 px) and keeps the token counts (CLIP at 336 px: 576 tokens per dense frame, the LLM's
context and sliding window), so the same code path runs on a CPU in seconds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import CLIPImageProcessorPil, CLIPVisionConfig

from videolisa.defaults import PROJECT_ROOT
from videolisa.errors import ConfigError
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.chat_template import ChatTemplate
from videolisa.modeling.checkpoint import LoadedCheckpoint, build_empty_model
from videolisa.modeling.config import VideoLISAConfig
from videolisa.modeling.device import resolve_device, resolve_dtype
from videolisa.modeling.quantization import Quantization, quantize_llm, require_bitsandbytes
from videolisa.modeling.sam import SamArchitecture
from videolisa.modeling.tiny import CLIP_MEAN, CLIP_STD, train_tokenizer
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.profiling.estimate import KNOWN_VISION_CONFIGS

logger = logging.getLogger(__name__)

PUBLISHED_CONFIG = PROJECT_ROOT.parent / "shared" / "golden" / "config-videolisa-3.8b.guess.json"
PUBLISHED_CLIP = "openai/clip-vit-large-patch14-336"
SCALES = ("full", "tiny")
TOKENIZER_VOCAB = 512  # SentencePiece pieces of the stand-in tokenizer
# What the stand-in tokenizer is trained on: the chat template's text and the bench's prompts.
TOKENIZER_TEXT = (
    "You are a helpful AI assistant.",
    "Please segment the red square in this video.",
    "Now please segment the green disc.",
    "Sure, it is the object on the left. Where is the cat? What is moving?",
)
# Widths and depths of scale "tiny" (token counts and the SAM layout stay the published ones).
TINY_LLM = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}
TINY_CLIP = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3}
TINY_CLIP_HEADS = 2
TINY_SAM = SamArchitecture(
    img_size=128,
    encoder_embed_dim=32,
    encoder_depth=2,
    encoder_num_heads=2,
    encoder_global_attn_indexes=(1,),
    window_size=4,
    prompt_embed_dim=32,
    mask_in_chans=8,
    decoder_num_heads=2,
    decoder_mlp_dim=64,
    iou_head_hidden_dim=32,
)


def architecture(
    config_file: str | Path | None = None, scale: str = "full"
) -> tuple[VideoLISAConfig, CLIPVisionConfig]:
    """The VideoLISA and CLIP configs of ``config_file`` (default :data:`PUBLISHED_CONFIG`)
    at ``scale``."""
    if scale not in SCALES:
        raise ConfigError(f"Unknown scale {scale!r}.", f"Use one of: {', '.join(SCALES)}.")
    path = Path(config_file or PUBLISHED_CONFIG)
    if not path.is_file():
        raise ConfigError(
            f"The config {path} does not exist.",
            "Pass --config with a VideoLISA config.json (the shared golden data holds "
            "config-videolisa-3.8b.guess.json, the published one).",
        )
    raw = json.loads(path.read_text())
    tower = raw.get("vision_tower") or raw.get("mm_vision_tower") or PUBLISHED_CLIP
    if tower not in KNOWN_VISION_CONFIGS:
        raise ConfigError(
            f"The config's vision tower {tower!r} has no known size.",
            f"Use a config whose vision_tower is {PUBLISHED_CLIP}.",
        )
    vision = dict(KNOWN_VISION_CONFIGS[tower])
    if scale == "tiny":
        vision.update(TINY_CLIP, num_attention_heads=TINY_CLIP_HEADS, projection_dim=32)
        raw = {
            **raw,
            **TINY_LLM,
            "mm_hidden_size": vision["hidden_size"],
            "out_dim": TINY_SAM.prompt_embed_dim,
            "sam_config": TINY_SAM.to_dict(),
        }
    return VideoLISAConfig.from_json(raw), CLIPVisionConfig(**vision)


def random_pipeline(
    workdir: str | Path,
    config_file: str | Path | None = None,
    scale: str = "full",
    dtype: str = "auto",
    device: str = "auto",
    quantization: Quantization | None = None,
    seed: int = 0,
) -> VideoLISAPipeline:
    """The architecture of ``config_file`` at ``scale`` with random weights, built directly on
    ``device`` in ``dtype`` (LLM linear layers in 4 or 8 bits with ``quantization``); the
    tokenizer and CLIP preprocessor files go to ``workdir``."""
    if quantization:
        require_bitsandbytes(quantization)
    config, vision = architecture(config_file, scale)
    target = resolve_device(device)
    compute_dtype = resolve_dtype(dtype, target)
    workdir = Path(workdir)
    tokenizer = train_tokenizer(TOKENIZER_TEXT, TOKENIZER_VOCAB)
    if tokenizer.vocab_size > config.vocab_size:
        raise ConfigError(
            f"The config's vocabulary ({config.vocab_size}) is smaller than the stand-in "
            f"tokenizer's ({tokenizer.vocab_size}).",
            "Use a config with the published vocabulary size.",
        )
    torch.manual_seed(seed)
    model = _build_on(target, compute_dtype, config, vision)
    if quantization:
        llm_body = model.llm.model.to("cpu")  # bitsandbytes quantises while moving to the GPU
        count = quantize_llm(llm_body, quantization, compute_dtype, target)
        logger.info("quantised %d LLM linear layers to %s", count, quantization)
        model.to(target)
    tower = workdir / "vision_tower"
    _clip_preprocessor(vision).save_pretrained(tower)
    checkpoint = LoadedCheckpoint(model.eval(), tokenizer, workdir, tower)
    mode = f", {quantization} LLM" if quantization else ""
    precision = f"{str(compute_dtype).removeprefix('torch.')}{mode}"
    name = Path(config_file or PUBLISHED_CONFIG).name
    description = f"random weights, {name} at scale {scale} ({precision} on {target})"
    return VideoLISAPipeline(
        checkpoint, ChatTemplate.load("phi3_instruct"), target, description, precision
    )


def meta_model(config_file: str | Path | None = None, scale: str = "full") -> VideoLISAModel:
    """The same architecture on the ``meta`` device (for the dry-run memory estimate)."""
    return build_empty_model(*architecture(config_file, scale))


def _build_on(
    device: torch.device,
    dtype: torch.dtype,
    config: VideoLISAConfig,
    vision: CLIPVisionConfig,
) -> VideoLISAModel:
    """Every parameter created and initialised on ``device`` in ``dtype`` (no float32 copy of
    a 4.8 B-parameter model first); SAM's positional-encoding matrix ends in float32 as
    :meth:`VideoLISAModel._apply` keeps it."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = VideoLISAModel(config, vision)
    finally:
        torch.set_default_dtype(previous)
    return model.to(dtype)


def _clip_preprocessor(vision: CLIPVisionConfig) -> CLIPImageProcessorPil:
    """The published CLIP's preprocessing (OpenAI CLIP at ``vision.image_size``)."""
    side = vision.image_size
    return CLIPImageProcessorPil(
        size={"shortest_edge": side},
        crop_size={"height": side, "width": side},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
