"""Command-line options shared by the commands and the app: which model, how many frames, how
videos are encoded."""

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


def add_memory_arguments(parser: argparse.ArgumentParser, default: str = "2GB") -> None:
    """``--max-memory`` and ``--sam-batch``: how a video's SAM embeddings are computed and kept;
    see :func:`encode_options`."""
    parser.add_argument(
        "--max-memory",
        default=default,
        help="budget for the SAM embeddings kept per video (beyond it they are recomputed "
        f"chunk by chunk when masks are decoded); 'none' keeps all (default {default})",
    )
    parser.add_argument(
        "--sam-batch",
        type=_at_least_one,
        default=8,
        metavar="N",
        help="frames per SAM encoder call (default 8); smaller batches lower peak GPU memory, "
        "e.g. 1-2 on 16 GB GPUs for the published model",
    )


def encode_options(args: argparse.Namespace) -> dict[str, int | None]:
    """Keyword arguments of :meth:`VideoLISAPipeline.encode` from ``--sam-batch`` and
    ``--max-memory`` (bytes, or ``None`` for 'none')."""
    from videolisa.benchmark.memory import parse_size

    text = args.max_memory
    budget = None if text.lower() == "none" else parse_size(text, "--max-memory")
    return {"sam_batch": args.sam_batch, "sam_memory_budget_bytes": budget}


def _at_least_one(text: str) -> int:
    """An integer of at least 1, else an argparse error naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
