"""``python -m videolisa export --run RUN --out DIR``: a training checkpoint as a model."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="save a training checkpoint as a model (published layout, LoRA merged)",
        description="Write checkpoint STEP (default: the latest) of a training run as a model "
        "folder that --model accepts, with any LoRA adapters folded into the weights.",
    )
    parser.add_argument("--run", dest="run_dir", required=True, help="the run's output_dir")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from videolisa.training.trainer import export_checkpoint

    folder = export_checkpoint(Path(args.run_dir), Path(args.out), args.step)
    print(f"model saved to {folder}")
    return 0
