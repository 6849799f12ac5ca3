"""The configuration of a VideoLISA checkpoint, read from its ``config.json`` and tensor shapes.

The published checkpoint's ``config.json`` is a LLaVA-Phi-3 config (``model_type: llava_phi``):
Phi-3 fields plus the LLaVA ones (``mm_hidden_size``, ``mm_vision_select_layer``,
``vision_tower``, ``out_dim``...). Checkpoints this project writes use the same file and add
``sam_config`` (the SAM sizes) and ``track_token`` (the ``<TRK>`` string of their tokenizer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import AutoConfig, PretrainedConfig

from videolisa.errors import CheckpointError
from videolisa.modeling.sam import SamArchitecture

PUBLISHED_FRAMES = (32, 4)  # (sparse, dense) frames of the published checkpoint
LLM_MODEL_TYPE = "phi3"  # the language model of LLaVA-Phi-3 (transformers' model type)
DEFAULT_CHAT_TEMPLATE = "phi3_instruct"  # modeling/templates/<name>.json
SUPPORTED_PROJECTORS = ("mlp2x_gelu",)
SUPPORTED_SELECT_FEATURES = ("patch",)

# Keys of a LLaVA config that are not Phi-3 fields; kept in ``raw`` and written back on save.
_LLAVA_KEYS = (
    "mm_",
    "vision_tower",
    "out_dim",
    "sam_config",
    "track_token",
    "frames_",
    "videolisa_",
)


@dataclass
class VideoLISAConfig:
    """What it takes to build a VideoLISA model.

    ``raw`` is the checkpoint's ``config.json`` as read; the other fields are derived from it and
    from the tensor shapes, and validated here.
    """

    raw: dict[str, Any]
    sam: SamArchitecture
    vocab_size: int
    vision_tower: str  # hub id or path of the CLIP vision tower
    mm_hidden_size: int  # CLIP hidden size
    mm_vision_select_layer: int = -2
    out_dim: int = 256  # size of the <TRK> prompt embedding = SAM's prompt_embed_dim
    track_token: str | None = None  # None: the tokenizer's one non-special added token
    default_frames: tuple[int, int] = PUBLISHED_FRAMES  # (sparse, dense) it was trained with
    chat_template: str = DEFAULT_CHAT_TEMPLATE  # the template it was trained with

    def __post_init__(self) -> None:
        projector = self.raw.get("mm_projector_type", "mlp2x_gelu")
        if projector not in SUPPORTED_PROJECTORS:
            raise CheckpointError(
                f"mm_projector_type '{projector}' is not supported; "
                f"allowed: {', '.join(SUPPORTED_PROJECTORS)}."
            )
        feature = self.raw.get("mm_vision_select_feature", "patch")
        if feature not in SUPPORTED_SELECT_FEATURES:
            raise CheckpointError(
                f"mm_vision_select_feature '{feature}' is not supported; "
                f"allowed: {', '.join(SUPPORTED_SELECT_FEATURES)}."
            )
        if self.out_dim != self.sam.prompt_embed_dim:
            raise CheckpointError(
                f"out_dim {self.out_dim} differs from SAM's prompt size "
                f"{self.sam.prompt_embed_dim}.",
                "The checkpoint is inconsistent; re-export it.",
            )

    @property
    def hidden_size(self) -> int:
        return int(self.raw["hidden_size"])

    @classmethod
    def from_checkpoint(
        cls, raw: Mapping[str, Any], shapes: Mapping[str, Sequence[int]]
    ) -> VideoLISAConfig:
        """Derive the config from ``config.json`` (``raw``) and the checkpoint's tensor shapes."""
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
            if key not in raw:
                raise CheckpointError(
                    f"config.json has no '{key}': this is not a LLaVA-Phi-3 / VideoLISA config.",
                    "Point --model at a VideoLISA checkpoint folder or hub id.",
                )
        if "model.embed_tokens.weight" not in shapes:
            raise CheckpointError(
                "The checkpoint has no 'model.embed_tokens.weight'.",
                "Point --model at a VideoLISA checkpoint (published layout).",
            )
        if "model.mm_projector.0.weight" not in shapes:
            raise CheckpointError(
                "The checkpoint has no projector ('model.mm_projector.0.weight'): it is not a "
                "VideoLISA checkpoint.",
                "Point --model at a VideoLISA checkpoint (published layout).",
            )
        vision_tower = raw.get("vision_tower") or raw.get("mm_vision_tower")
        if not vision_tower:
            raise CheckpointError(
                "config.json names no vision tower ('vision_tower').",
                "Pass --vision-tower (e.g. openai/clip-vit-large-patch14-336).",
            )
        return cls(
            raw=dict(raw),
            sam=SamArchitecture.from_shapes(shapes, _sam_overrides(raw)),
            vocab_size=int(shapes["model.embed_tokens.weight"][0]),
            vision_tower=str(vision_tower),
            mm_hidden_size=int(shapes["model.mm_projector.0.weight"][1]),
            mm_vision_select_layer=int(raw.get("mm_vision_select_layer", -2)),
            out_dim=int(raw.get("out_dim", shapes["model.text_hidden_fcs.0.2.weight"][0])),
            track_token=raw.get("track_token"),
            default_frames=_default_frames(raw),
            chat_template=str(raw.get("videolisa_chat_template", DEFAULT_CHAT_TEMPLATE)),
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> VideoLISAConfig:
        """Derive the config from ``config.json`` alone (no weights: ``bench --dry-run``): SAM
        sizes from its ``sam_config`` (checkpoints this project writes) or SAM ViT-H's (the
        published checkpoint)."""
        missing = [k for k in ("vocab_size", "mm_hidden_size", "hidden_size") if k not in raw]
        if missing:
            raise CheckpointError(
                f"The config has no {', '.join(missing)}: sizes cannot be known without weights.",
                "Point --model at a checkpoint folder with its weights, or use a full config.json.",
            )
        sam = SamArchitecture.from_dict(_sam_overrides(raw))
        return cls(
            raw=dict(raw),
            sam=sam,
            vocab_size=int(raw["vocab_size"]),
            vision_tower=str(raw.get("vision_tower") or raw.get("mm_vision_tower") or ""),
            mm_hidden_size=int(raw["mm_hidden_size"]),
            mm_vision_select_layer=int(raw.get("mm_vision_select_layer", -2)),
            out_dim=int(raw.get("out_dim", sam.prompt_embed_dim)),
            track_token=raw.get("track_token"),
            default_frames=_default_frames(raw),
            chat_template=str(raw.get("videolisa_chat_template", DEFAULT_CHAT_TEMPLATE)),
        )

    def llm_config(self, attn_implementation: str = "sdpa") -> PretrainedConfig:
        """The config of the language model (:data:`LLM_MODEL_TYPE`, for
        ``AutoModelForCausalLM.from_config``): the checkpoint's text fields, adapted to the
        transformers version that runs it (:func:`transformers4_sliding_window`)."""
        values = {k: v for k, v in self.raw.items() if not k.startswith(_LLAVA_KEYS)}
        for key in ("architectures", "model_type", "auto_map", "_name_or_path", "torch_dtype"):
            values.pop(key, None)
        values["vocab_size"] = self.vocab_size
        config = AutoConfig.for_model(LLM_MODEL_TYPE, **transformers4_sliding_window(values))
        config._attn_implementation = attn_implementation
        return config

    def to_json_dict(self) -> dict[str, Any]:
        """``config.json`` content for a checkpoint in the published layout, with the SAM sizes
        and the track token recorded so the checkpoint rebuilds exactly."""
        out = dict(self.raw)
        out["vocab_size"] = self.vocab_size
        out["vision_tower"] = self.vision_tower
        out["mm_hidden_size"] = self.mm_hidden_size
        out["out_dim"] = self.out_dim
        out["sam_config"] = self.sam.to_dict()
        out["frames_sparse"], out["frames_dense"] = self.default_frames
        if self.track_token is not None:
            out["track_token"] = self.track_token
        out["videolisa_chat_template"] = self.chat_template
        return out


def transformers4_sliding_window(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the sliding window the checkpoint was trained with.

    transformers 4 (which the published checkpoint was trained with) lets a query at position i
    attend keys [i - w, i], w + 1 keys; transformers 5 attends [i - w + 1, i]. Passing w + 1
    gives back the trained behaviour (golden case 3 checks it)."""
    if values.get("sliding_window") is None:
        return values
    return {**values, "sliding_window": int(values["sliding_window"]) + 1}


def _default_frames(raw: Mapping[str, Any]) -> tuple[int, int]:
    """(sparse, dense) frame counts recorded in ``config.json``; the published ones if none."""
    sparse, dense = PUBLISHED_FRAMES
    return int(raw.get("frames_sparse", sparse)), int(raw.get("frames_dense", dense))


def _sam_overrides(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """SAM sizes recorded in the config: ``sam_config`` (checkpoints this project writes), or
    ``videolisa_golden_extras.sam_config`` (the golden tiny checkpoint). The published
    checkpoint records none and uses SAM ViT-H's."""
    if "sam_config" in raw:
        return raw["sam_config"]
    return raw.get("videolisa_golden_extras", {}).get("sam_config", {})
