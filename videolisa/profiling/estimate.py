"""Memory a model needs in each precision, from its config alone (``bench --dry-run``).

The model is built on the ``meta`` device, so parameter counts come from the architecture
itself and no weights are read. Weights: CLIP, SAM, the projector and the ``<TRK>`` head stay
in bfloat16 in every mode; in 8-bit and 4-bit only the LLM decoder's linear layers are
quantised (as :mod:`videolisa.modeling.quantization` does), while its token embeddings,
``lm_head`` and norms stay in bfloat16. Activations are what the pipeline keeps for a video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from transformers import CLIPVisionConfig

from videolisa.errors import CheckpointError
from videolisa.modeling.checkpoint import (
    build_empty_model,
    read_config,
    read_shapes,
    resolve_folder,
    resolve_vision_tower,
)
from videolisa.modeling.config import VideoLISAConfig
from videolisa.modeling.videolisa import VideoLISAModel

PRECISIONS = ("bf16", "8bit", "4bit")
BF16 = 2
FP32 = 4
NF4_BLOCK = 64  # bitsandbytes NF4 block size; one absmax per block
NF4_DOUBLE_QUANT_BLOCK = 256  # absmax values are quantised to 8 bits in blocks of 256

# Vision configs of CLIP towers named by published checkpoints, for estimates without a download.
KNOWN_VISION_CONFIGS: dict[str, dict] = {
    "openai/clip-vit-large-patch14-336": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 336,
        "patch_size": 14,
        "projection_dim": 768,
        "hidden_act": "quick_gelu",
    },
}


@dataclass(frozen=True)
class Part:
    """One row of the estimate: a name, its parameter count and bytes per precision (or per
    activation dtype)."""

    name: str
    params: int  # 0 for activations
    nbytes: dict[str, int]
    transient: bool = False  # an activation freed after its stage (peaks do not add up)


@dataclass(frozen=True)
class MemoryEstimate:
    """Weights per precision and activations for one video size."""

    weights: list[Part]  # nbytes keyed by PRECISIONS
    activations: list[Part]  # nbytes keyed by "float32" and "bfloat16"
    sequence_length: int  # LLM positions: video tokens + text + new tokens

    def total(self, precision: str) -> int:
        """Peak of a GPU run: weights in ``precision``, the kept bfloat16 activations and the
        largest transient one (stages run one after another)."""
        weights = sum(part.nbytes[precision] for part in self.weights)
        kept = sum(p.nbytes["bfloat16"] for p in self.activations if not p.transient)
        transient = [p.nbytes["bfloat16"] for p in self.activations if p.transient]
        return weights + kept + max(transient, default=0)

    def to_json(self) -> dict:
        return {
            "weights": {p.name: {"params": p.params, **p.nbytes} for p in self.weights},
            "activations": {p.name: p.nbytes for p in self.activations},
            "sequence_length": self.sequence_length,
            "peak_total": {p: self.total(p) for p in PRECISIONS},
        }


def load_meta_model(
    model: str | Path | None = None,
    config_file: str | Path | None = None,
    vision_tower: str | None = None,
) -> VideoLISAModel:
    """The model of a checkpoint folder (shapes from its weights when present, else from
    ``config.json``) or of a ``config.json`` file, on the meta device."""
    if config_file is not None:
        raw = json.loads(Path(config_file).read_text())
        folder = Path(config_file).parent
        config = VideoLISAConfig.from_json(raw)
    else:
        folder = resolve_folder(model)
        raw = read_config(folder)
        has_weights = any(folder.glob("model*.safetensors")) or any(
            folder.glob("pytorch_model*.bin")
        )
        if has_weights:
            config = VideoLISAConfig.from_checkpoint(raw, read_shapes(folder))
        else:
            config = VideoLISAConfig.from_json(raw)
    return build_empty_model(config, vision_config(config, folder, vision_tower))


def vision_config(
    config: VideoLISAConfig, folder: Path, vision_tower: str | None
) -> CLIPVisionConfig:
    """The CLIP config: a known published tower's sizes, else read from its local folder."""
    name = vision_tower or config.vision_tower
    if name in KNOWN_VISION_CONFIGS:
        return CLIPVisionConfig(**KNOWN_VISION_CONFIGS[name])
    try:
        return CLIPVisionConfig.from_pretrained(resolve_vision_tower(config, folder, vision_tower))
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"The vision tower '{name}' could not be read ({error}).",
            "Pass --vision-tower with a local CLIP folder.",
        ) from None


def estimate_memory(
    model: VideoLISAModel,
    num_frames: int,
    num_sparse: int,
    num_dense: int,
    text_tokens: int = 128,
    sam_batch: int = 8,
) -> MemoryEstimate:
    """Weights per precision and activations of a ``num_frames`` video with ``num_sparse``
    CLIP frames (``num_dense`` of them in full), ``text_tokens`` of text and answer, and SAM
    encoding ``sam_batch`` frames per call (at most ``num_frames``, as the pipeline does)."""
    vision = model.vision_tower.config
    patches = (vision.image_size // vision.patch_size) ** 2
    sequence = num_sparse + num_dense * patches + text_tokens
    llm = model.llm.config
    head_dim = llm.hidden_size // llm.num_attention_heads
    kv_heads = llm.num_key_value_heads or llm.num_attention_heads
    sam = model.config.sam
    side = sam.embedding_side
    sam_batch = min(sam_batch, num_frames)
    # the layer being run: its input, normed input and output states and the MLP's inner states
    # (the layers' outputs are not kept: only the selected layer's is)
    layer_width = 3 * vision.hidden_size + vision.intermediate_size
    clip_states = num_sparse * (patches + 1) * layer_width
    # kept with the encoded video (inference.generation.VideoPrefix); a sliding-window cache
    # holds the last window - 1 positions
    video_positions = num_sparse + num_dense * patches
    window = getattr(llm, "sliding_window", None)
    kept_positions = min(video_positions, window - 1) if window else video_positions
    activations = [  # (name, elements, transient)
        ("SAM embeddings, all frames", num_frames * sam.prompt_embed_dim * side * side, False),
        # segment-anything's global attention materialises the scores and their softmax.
        (
            f"SAM encoder attention, batch of {sam_batch}",
            2 * sam_batch * sam.encoder_num_heads * side**4,
            True,
        ),
        (f"CLIP layer activations, {num_sparse} frames", clip_states, True),
        (
            f"LLM keys/values up to the video, {kept_positions} positions (kept)",
            2 * llm.num_hidden_layers * kept_positions * kv_heads * head_dim,
            False,
        ),
        (
            f"LLM KV cache of an answer, {sequence} positions",
            2 * llm.num_hidden_layers * sequence * kv_heads * head_dim,
            True,
        ),
    ]
    return MemoryEstimate(
        weights=_weights(model),
        activations=[
            Part(name, 0, {"float32": count * FP32, "bfloat16": count * BF16}, transient)
            for name, count, transient in activations
        ],
        sequence_length=sequence,
    )


def _weights(model: VideoLISAModel) -> list[Part]:
    def count(module: nn.Module) -> int:
        """Tensors the checkpoint stores: parameters and persistent buffers."""
        return sum(t.numel() for t in module.state_dict().values())

    linears = [m for m in model.llm.model.modules() if isinstance(m, nn.Linear)]
    linear_weights = sum(m.weight.numel() for m in linears)
    linear_rows = sum(m.out_features for m in linears)
    llm_other = count(model.llm) - linear_weights  # embeddings, lm_head, norms, biases
    blocks = linear_weights / NF4_BLOCK
    nf4 = linear_weights / 2 + blocks + blocks / NF4_DOUBLE_QUANT_BLOCK * FP32
    llm = Part(
        "LLM",
        count(model.llm),
        {
            "bf16": count(model.llm) * BF16,
            "8bit": linear_weights + linear_rows * FP32 + llm_other * BF16,
            "4bit": round(nf4) + llm_other * BF16,
        },
    )
    rest = [
        ("CLIP", count(model.vision_tower)),
        ("SAM", count(model.sam)),
        ("projector + <TRK> head", count(model.mm_projector) + count(model.text_hidden_fcs)),
    ]
    return [llm] + [Part(name, n, dict.fromkeys(PRECISIONS, n * BF16)) for name, n in rest]
