"""Command-line options shared by the commands and the app: which model, how many frames."""

from __future__ import annotations

import argparse

from videolisa.defaults import DEFAULT_MODEL


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


def add_memory_argument(parser: argparse.ArgumentParser, default: str = "2GB") -> None:
    """``--max-memory``: the SAM embeddings kept per video; see :func:`memory_budget`."""
    parser.add_argument(
        "--max-memory",
        default=default,
        help="budget for the SAM embeddings kept per video (beyond it they are recomputed "
        f"chunk by chunk when masks are decoded); 'none' keeps all (default {default})",
    )


def memory_budget(args: argparse.Namespace) -> int | None:
    """Bytes of ``--max-memory``, or ``None`` for 'none'."""
    from videolisa.benchmark.memory import parse_size

    text = args.max_memory
    return None if text.lower() == "none" else parse_size(text, "--max-memory")
