"""Loading and saving checkpoints in the published VideoLISA layout.

A checkpoint is a folder (or a hub id) with ``config.json``, the tokenizer files and the weights
as ``model*.safetensors`` or ``pytorch_model*.bin`` shards (read with ``weights_only=True``; no
checkpoint code ever runs). Published key names map onto :class:`VideoLISAModel` module names by
prefix (:data:`KEY_PREFIXES`); every key must map, and every model weight must be found.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModel

from videolisa.errors import CheckpointError
from videolisa.modeling.config import VideoLISAConfig
from videolisa.modeling.tokenizer import VideoLISATokenizer
from videolisa.modeling.videolisa import VideoLISAModel

logger = logging.getLogger(__name__)

# (published prefix, module prefix), most specific first.
KEY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("model.vision_tower.vision_tower.vision_model.", "vision_tower."),
    ("model.mm_projector.", "mm_projector."),
    ("model.visual_model.", "sam."),
    ("model.text_hidden_fcs.0.", "text_hidden_fcs."),
    ("model.", "llm.model."),
    ("lm_head.", "llm.lm_head."),
)
VISION_PREFIX = "vision_tower."
# How torch.load(weights_only=True) names the forbidden function or class in a pickle.
UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def to_module_key(key: str) -> str:
    """Published key -> :class:`VideoLISAModel` state-dict key."""
    for published, module in KEY_PREFIXES:
        if key.startswith(published):
            return module + key[len(published) :]
    raise CheckpointError(
        f"Unexpected key '{key}' in the checkpoint: it is not part of VideoLISA.",
        "Use a checkpoint in the published VideoLISA layout.",
    )


def to_published_key(key: str) -> str:
    """:class:`VideoLISAModel` state-dict key -> published key."""
    for published, module in KEY_PREFIXES:
        if key.startswith(module):
            return published + key[len(module) :]
    raise ValueError(f"no published name for module key {key!r}")


def resolve_folder(name_or_path: str | Path, what: str = "checkpoint") -> Path:
    """A local folder as is; otherwise a hub id downloaded (or found in the hub cache)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{what.capitalize()} '{path}' is a file, not a folder.")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(name_or_path)))
    except Exception as error:  # the hub client raises many kinds; all mean "not available"
        raise CheckpointError(
            f"{what.capitalize()} '{name_or_path}' is not a local folder and could not be "
            f"fetched from the Hugging Face hub ({type(error).__name__}).",
            "Pass a local folder, or connect to the internet once to download it.",
        ) from None


def weight_files(folder: Path) -> list[Path]:
    """The weight shards of a checkpoint folder: safetensors preferred, else ``.bin``."""
    for pattern in ("model*.safetensors", "pytorch_model*.bin"):
        files = sorted(folder.glob(pattern))
        if files:
            return files
    raise CheckpointError(
        f"No weights in {folder} (looked for model*.safetensors and pytorch_model*.bin).",
        "Point --model at a complete VideoLISA checkpoint folder.",
    )


def iter_tensors(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Every (published key, tensor) of the checkpoint, one shard at a time."""
    for file in weight_files(folder):
        if file.suffix == ".safetensors":
            with safe_open(str(file), framework="pt") as shard:
                for key in shard.keys():  # noqa: SIM118 - safe_open is not a dict
                    yield key, shard.get_tensor(key)
        else:
            yield from load_bin(file).items()


def load_bin(file: Path) -> dict[str, torch.Tensor]:
    """A ``pytorch_model*.bin`` shard, unpickled with ``weights_only=True``: a pickle that asks
    to run code (anything but tensors and plain containers) is refused, never executed."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        found = UNSAFE_GLOBAL.search(str(error))
        reason = f": it asks for {found.group(1)}" if found else ""
        raise CheckpointError(
            f"Refusing to load {file}: it holds more than tensors{reason}, and unpickling it "
            "could run code.",
            "Use a checkpoint from a source you trust, converted to safetensors.",
        ) from None


def read_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Published key -> shape, without loading safetensors data."""
    shapes: dict[str, tuple[int, ...]] = {}
    for file in weight_files(folder):
        if file.suffix == ".safetensors":
            with safe_open(str(file), framework="pt") as shard:
                for key in shard.keys():  # noqa: SIM118
                    shapes[key] = tuple(shard.get_slice(key).get_shape())
        else:
            shapes.update({k: tuple(v.shape) for k, v in load_bin(file).items()})
    return shapes


def read_config(folder: Path) -> dict:
    file = folder / "config.json"
    if not file.is_file():
        raise CheckpointError(
            f"{folder} has no config.json: it is not a model checkpoint.",
            "Point --model at a VideoLISA checkpoint folder or hub id.",
        )
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{file} is not valid JSON ({error}).") from None


def resolve_vision_tower(config: VideoLISAConfig, folder: Path, override: str | None) -> Path:
    """The CLIP tower folder: ``override`` or the config's ``vision_tower``; a relative path
    is looked up next to the checkpoint first."""
    name = override or config.vision_tower
    beside = folder / name
    if not Path(name).is_absolute() and beside.is_dir():
        return beside
    return resolve_folder(name, what="vision tower")


def build_empty_model(
    config: VideoLISAConfig, vision_config: CLIPVisionConfig, attn_implementation: str = "sdpa"
) -> VideoLISAModel:
    """The model with parameters on the ``meta`` device (no memory) and real buffers."""
    with init_empty_weights(include_buffers=False):
        return VideoLISAModel(config, vision_config, attn_implementation)


@dataclass
class LoadedCheckpoint:
    model: VideoLISAModel  # in eval mode, on the CPU
    tokenizer: VideoLISATokenizer
    folder: Path  # the checkpoint folder
    vision_tower_folder: Path  # the CLIP folder (its image processor config is there)


def load_model(
    name_or_path: str | Path,
    vision_tower: str | None = None,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
) -> LoadedCheckpoint:
    """Load a VideoLISA checkpoint onto the CPU in ``dtype``.

    Raises :class:`CheckpointError` naming any key that is missing or unexpected.
    """
    folder = resolve_folder(name_or_path)
    config = VideoLISAConfig.from_checkpoint(read_config(folder), read_shapes(folder))
    tokenizer = VideoLISATokenizer.from_folder(folder, config.track_token)
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"The tokenizer has {tokenizer.vocab_size} tokens but the embeddings only "
            f"{config.vocab_size}.",
            "Use the tokenizer files saved with this checkpoint.",
        )
    tower_folder = resolve_vision_tower(config, folder, vision_tower)
    try:
        tower = CLIPVisionModel.from_pretrained(tower_folder, dtype=dtype)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"The vision tower at {tower_folder} could not be loaded ({error}).",
            "Pass --vision-tower with a CLIP vision model folder or hub id.",
        ) from None
    model = build_empty_model(config, tower.config, attn_implementation)
    model.vision_tower = tower
    _load_weights(model, folder, dtype)
    return LoadedCheckpoint(model.eval(), tokenizer, folder, tower_folder)


def _load_weights(model: VideoLISAModel, folder: Path, dtype: torch.dtype) -> None:
    expected = model.state_dict()
    found: set[str] = set()
    state: dict[str, torch.Tensor] = {}
    for key, tensor in iter_tensors(folder):
        module_key = to_module_key(key)
        if module_key not in expected:
            raise CheckpointError(
                f"Unexpected key '{key}' in the checkpoint (no such weight in the model).",
                "The checkpoint does not match this architecture; check config.json.",
            )
        if tuple(tensor.shape) != tuple(expected[module_key].shape):
            raise CheckpointError(
                f"Key '{key}' has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(expected[module_key].shape)}.",
                "The checkpoint does not match its config.json.",
            )
        state[module_key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
        found.add(module_key)
    missing = sorted(k for k in expected if k not in found and not k.startswith(VISION_PREFIX))
    if missing:
        names = ", ".join(to_published_key(k) for k in missing[:5])
        raise CheckpointError(
            f"The checkpoint lacks {len(missing)} weight(s), e.g. {names}.",
            "The checkpoint is incomplete or of another architecture.",
        )
    tower_keys = {k for k in expected if k.startswith(VISION_PREFIX)}
    partial_tower = found & tower_keys
    if partial_tower and partial_tower != tower_keys:
        raise CheckpointError(
            f"The checkpoint holds {len(partial_tower)} of the {len(tower_keys)} vision tower "
            "weights.",
            "Save either all of the vision tower or none of it.",
        )
    model.load_state_dict(state, strict=False, assign=True)
    model.to(dtype)
    still_empty = [name for name, p in model.named_parameters() if p.is_meta]
    if still_empty:  # every key was checked above, so this is a bug, not a user error
        raise RuntimeError(f"parameters left unloaded: {still_empty[:5]}")


def save_checkpoint(
    model: VideoLISAModel,
    tokenizer: VideoLISATokenizer,
    folder: str | Path,
) -> Path:
    """Write ``model`` in the published layout (``config.json``, tokenizer files,
    ``model.safetensors`` without the CLIP tower, which ``vision_tower`` in config.json names)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        to_published_key(k): v.detach().contiguous()
        for k, v in model.state_dict().items()
        if not k.startswith(VISION_PREFIX)
    }
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_json_dict()
    config["track_token"] = tokenizer.track_token
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save(folder)
    return folder
