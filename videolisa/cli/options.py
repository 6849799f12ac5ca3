"""Command-line options shared by the commands and the app: which model, how many frames, how
videos are encoded."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from videolisa.defaults import DEFAULT_MAX_TRACKS, DEFAULT_MODEL
from videolisa.errors import ConfigError

if TYPE_CHECKING:
    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.inference.trackers import TrackingSettings

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20}
_UNITS["GIB"] = 2**30
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--vision-tower``, ``--dtype``, ``--device``, ``--load-4bit/8bit``."""
    parser.add_argument(
        "--model",
        default=str(DEFAULT_MODEL),
        help="checkpoint folder or hub id (default: the bundled toy-world model)",
    )
    parser.add_argument(
        "--vision-tower",
        default=None,
        help="CLIP folder or hub id (default: the checkpoint config's vision_tower)",
    )
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"]
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    quant = parser.add_mutually_exclusive_group()
    quant.add_argument("--load-4bit", action="store_true", help="NF4 LLM (bitsandbytes)")
    quant.add_argument("--load-8bit", action="store_true", help="8-bit LLM (bitsandbytes)")


def load_pipeline(args: argparse.Namespace):
    """The pipeline the model arguments ask for."""
    from videolisa.inference.pipeline import VideoLISAPipeline

    quantization = "4bit" if args.load_4bit else "8bit" if args.load_8bit else None
    return VideoLISAPipeline.from_pretrained(
        args.model,
        vision_tower=args.vision_tower,
        dtype=args.dtype,
        device=args.device,
        quantization=quantization,
    )


def add_frame_arguments(parser: argparse.ArgumentParser) -> None:
    """``--frames-sparse`` and ``--frames-dense``; left out, the model's own counts apply."""
    parser.add_argument(
        "--frames-sparse",
        type=int,
        default=None,
        help="frames seen by the LLM (default: the model's; 32 for the published one)",
    )
    parser.add_argument(
        "--frames-dense",
        type=int,
        default=None,
        help="of those, kept at full detail (default: the model's; 4 for the published one)",
    )


def add_memory_arguments(
    parser: argparse.ArgumentParser,
    default: str = "2GB",
    what: str = "what is kept of the video: its SAM embeddings and a tracker's features",
) -> None:
    """``--max-memory`` and ``--sam-batch``: how a video's SAM embeddings are computed and kept;
    see :func:`encode_settings`. ``what`` says what the budget covers."""
    parser.add_argument(
        "--max-memory",
        default=default,
        help=f"budget for {what} (SAM embeddings beyond it are recomputed chunk by chunk when "
        f"masks are decoded); 'none' keeps all (default {default})",
    )
    parser.add_argument(
        "--sam-batch",
        type=_at_least_one,
        default=8,
        metavar="N",
        help="frames per SAM encoder call (default 8); smaller batches lower peak GPU memory, "
        "e.g. 1-2 on 16 GB GPUs for the published model",
    )


def add_track_limit_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-tracks``: the most objects one answer segments."""
    parser.add_argument(
        "--max-tracks",
        type=_at_least_one,
        default=DEFAULT_MAX_TRACKS,
        metavar="N",
        help="segment at most N objects per answer; an answer asking for more is cut before "
        f"its track N+1 and says so (default {DEFAULT_MAX_TRACKS})",
    )


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """``--refine [NAME]`` / ``--propagate [NAME]``, ``--refine-model``, ``--refine-keyframes``:
    a registered tracker carries the keyframes' masks over the video."""
    from videolisa.inference.trackers import REGISTRY

    names = ", ".join(
        f"{e.name} ({e.title}, default {e.default_checkpoint})" for e in REGISTRY.values()
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--refine",
        nargs="?",
        const="",
        default=None,
        type=_tracker_name,
        metavar="NAME",
        help="post-optimise the masks over time: the tracker NAME carries the keyframes' masks "
        f"over the whole video (the published model's second numbers used XMem2); NAME: {names}; "
        "left out, the kind of --refine-model's checkpoint, else sam2",
    )
    mode.add_argument(
        "--propagate",
        nargs="?",
        const="",
        default=None,
        type=_tracker_name,
        metavar="NAME",
        help="long videos: SAM encodes only the dense frames, the tracker NAME carries their masks "
        "to every other frame",
    )
    parser.add_argument(
        "--refine-model",
        default=None,
        metavar="ID_OR_DIR",
        help="the tracker's checkpoint, a hub id or a folder (default: the tracker's own); a "
        "folder's config.json says which tracker it is",
    )
    parser.add_argument(
        "--refine-keyframes",
        default="dense",
        metavar="dense|K",
        help="refine: the frames whose masks the tracker starts from: the dense frames (default, "
        "as published) or the K frames with the best predicted masks",
    )


def tracking_settings(args: argparse.Namespace) -> TrackingSettings | None:
    """The tracker settings ``--refine`` / ``--propagate`` ask for, or None."""
    from videolisa.inference.trackers import TrackingSettings

    name = args.refine if args.refine is not None else args.propagate
    if name is None:
        return None
    text = args.refine_keyframes
    keyframes = text if text == "dense" else _at_least_one(text)
    budget = None if args.max_memory.lower() == "none" else parse_size(args.max_memory)
    return TrackingSettings.resolve(
        mode="refine" if args.refine is not None else "propagate",
        tracker=name or None,
        checkpoint=args.refine_model,
        keyframes=keyframes,
        feature_budget_bytes=budget,
    )


def encode_settings(
    args: argparse.Namespace, tracking: TrackingSettings | None = None
) -> EncodeSettings:
    """How to encode videos, from ``--frames-sparse``, ``--frames-dense``, ``--sam-batch`` and
    ``--max-memory`` ('none': keep every SAM embedding); SAM encodes only the keyframes when
    ``tracking`` propagates."""
    from videolisa.inference.encoded_video import EncodeSettings

    text = args.max_memory
    budget = None if text.lower() == "none" else parse_size(text, "--max-memory")
    keyframes_only = tracking is not None and tracking.mode == "propagate"
    return EncodeSettings(
        args.frames_sparse, args.frames_dense, args.sam_batch, budget, keyframes_only
    )


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in a size such as ``2GB``, ``512MiB`` or ``1000`` (decimal units; KiB, MiB, GiB
    binary); ``what`` names the setting in the error."""
    match = _SIZE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise ConfigError(
            f"Cannot read {what} {text!r}.",
            "Write a number with an optional unit: B, KB, MB, GB, KiB, MiB or GiB (e.g. 2GB).",
        )
    return int(float(match.group(1)) * _UNITS[unit])


def _at_least_one(text: str) -> int:
    """An integer of at least 1, else an argparse error naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _tracker_name(text: str) -> str:
    """A registered tracker's name, or "" (the kind of --refine-model's checkpoint)."""
    from videolisa.inference.trackers import REGISTRY

    if text and text not in REGISTRY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a tracker; use one of: {', '.join(REGISTRY)}"
        )
    return text
