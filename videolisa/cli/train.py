"""``python -m videolisa train --config RUN.json``: train or fine-tune, resumable."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on the toy world, or fine-tune a checkpoint with LoRA",
        description="Run the training described by a JSON config (see configs/). A run "
        "continues from its last checkpoint in output_dir unless --restart is given. "
        "Multi-GPU: accelerate launch -m videolisa train --config RUN.json",
    )
    parser.add_argument("--config", required=True, help="training config JSON")
    parser.add_argument(
        "--restart", action="store_true", help="ignore checkpoints in output_dir and start over"
    )
    parser.add_argument(
        "--stop-at", type=int, default=None, help="pause after this step (resume later)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from videolisa.training.config import TrainConfig
    from videolisa.training.trainer import train

    final = train(TrainConfig.load(args.config), resume=not args.restart, stop_at=args.stop_at)
    print(f"model saved to {final}" if final else f"paused after step {args.stop_at}")
    return 0
