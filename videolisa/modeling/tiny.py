"""Small VideoLISA models built from scratch, saved in the published checkpoint layout.

Real weights cannot be downloaded everywhere (CI, this project's own machines), so the app's
untrained demo model and the toy-world model start here: the same architecture at a size a CPU
runs in seconds, a SentencePiece tokenizer trained on the text it will see, Phi-3's chat markers
and ``<TRK>`` as added tokens.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import CLIPImageProcessorPil, CLIPVisionConfig

from videolisa.modeling.checkpoint import save_checkpoint
from videolisa.modeling.config import VideoLISAConfig
from videolisa.modeling.sam import SamArchitecture
from videolisa.modeling.tokenizer import TRACK_CONCEPT, VideoLISATokenizer
from videolisa.modeling.videolisa import VideoLISAModel

CHAT_MARKERS = ("<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>")
VISION_TOWER_DIR = "vision_tower"  # relative to the checkpoint folder
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TinySizes:
    """Sizes of a small VideoLISA; defaults run a chat turn on a CPU in well under a second."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    context_length: int = 2048
    clip_image_size: int = 112  # 64 patches of 14 px per dense frame
    clip_hidden_size: int = 32
    clip_layers: int = 3
    clip_heads: int = 2
    sam_img_size: int = 128
    sam_patch_size: int = 16  # 8 gives a 16x16 embedding grid and 64x64 low-res masks at 128 px
    sam_embed_dim: int = 32
    sam_depth: int = 2
    prompt_embed_dim: int = 32
    vocab_size: int = 512  # SentencePiece pieces, before the added tokens


def train_tokenizer(sentences: Iterable[str], vocab_size: int) -> VideoLISATokenizer:
    """A byte-fallback SentencePiece tokenizer trained on ``sentences``, with Phi-3's chat
    markers and ``<TRK>`` appended as added tokens (``<TRK>`` is the track token)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences)),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        hard_vocab_limit=False,
        # Keep text as written: newlines (byte pieces) and spaces before <TRK> matter.
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    size = processor.get_piece_size()
    added = {token: size + i for i, token in enumerate((*CHAT_MARKERS, TRACK_CONCEPT))}
    added.update({"<unk>": 0, "<s>": 1, "</s>": 2})
    return VideoLISATokenizer(
        model.getvalue(), added, {"<s>", "</s>", "<unk>"}, track_token=TRACK_CONCEPT
    )


def tiny_config(
    sizes: TinySizes, tokenizer: VideoLISATokenizer
) -> tuple[VideoLISAConfig, CLIPVisionConfig]:
    """The VideoLISA and CLIP configs of a small model using ``tokenizer``."""
    sam = SamArchitecture(
        img_size=sizes.sam_img_size,
        patch_size=sizes.sam_patch_size,
        encoder_embed_dim=sizes.sam_embed_dim,
        encoder_depth=sizes.sam_depth,
        encoder_num_heads=2,
        encoder_global_attn_indexes=(sizes.sam_depth - 1,),
        window_size=4,
        prompt_embed_dim=sizes.prompt_embed_dim,
        mask_in_chans=8,
        decoder_num_heads=2,
        decoder_mlp_dim=2 * sizes.prompt_embed_dim,
        iou_head_hidden_dim=sizes.prompt_embed_dim,
    )
    raw = {
        "architectures": ["VideoLISAForCausalLM"],
        "model_type": "llava_phi",
        "hidden_size": sizes.hidden_size,
        "intermediate_size": sizes.intermediate_size,
        "num_hidden_layers": sizes.num_layers,
        "num_attention_heads": sizes.num_heads,
        "num_key_value_heads": sizes.num_heads,
        "max_position_embeddings": sizes.context_length,
        "original_max_position_embeddings": sizes.context_length,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.token_id("<|endoftext|>"),
        "pad_token_id": 0,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "mm_hidden_size": sizes.clip_hidden_size,
        "vision_tower": VISION_TOWER_DIR,
        "out_dim": sizes.prompt_embed_dim,
        "track_token": TRACK_CONCEPT,
    }
    config = VideoLISAConfig(
        raw=raw,
        sam=sam,
        vocab_size=tokenizer.vocab_size,
        vision_tower=VISION_TOWER_DIR,
        mm_hidden_size=sizes.clip_hidden_size,
        out_dim=sizes.prompt_embed_dim,
        track_token=TRACK_CONCEPT,
    )
    vision = CLIPVisionConfig(
        hidden_size=sizes.clip_hidden_size,
        intermediate_size=2 * sizes.clip_hidden_size,
        num_hidden_layers=sizes.clip_layers,
        num_attention_heads=sizes.clip_heads,
        image_size=sizes.clip_image_size,
        patch_size=14,
        projection_dim=sizes.clip_hidden_size,
        hidden_act="quick_gelu",
    )
    return config, vision


def create_tiny_checkpoint(
    folder: str | Path,
    sentences: Iterable[str],
    sizes: TinySizes | None = None,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised small VideoLISA to ``folder`` (published layout, CLIP in
    ``folder/vision_tower``); ``sentences`` train its tokenizer."""
    sizes = sizes or TinySizes()
    tokenizer = train_tokenizer(sentences, sizes.vocab_size)
    config, vision = tiny_config(sizes, tokenizer)
    torch.manual_seed(seed)
    model = VideoLISAModel(config, vision)
    folder = save_checkpoint(model, tokenizer, folder)
    tower = folder / VISION_TOWER_DIR
    model.vision_tower.save_pretrained(tower)
    CLIPImageProcessorPil(
        size={"shortest_edge": sizes.clip_image_size},
        crop_size={"height": sizes.clip_image_size, "width": sizes.clip_image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    ).save_pretrained(tower)
    return folder
