"""The ``python -m videolisa`` command line: one subcommand per module in this package.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``run=<function taking the parsed args and returning an exit code>``. Command modules import
torch and the models inside ``run`` so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from videolisa.errors import UserInputError, is_out_of_memory

# Module names under videolisa.cli, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "segment",
    "toyworld",
    "eval_masks",
    "train",
    "export",
    "evaluate",
    "bench",
)


OUT_OF_MEMORY_MESSAGE = (
    "Out of memory while running the model. Use fewer frames (--frames-sparse, --frames-dense, "
    "--max-frames), a shorter or smaller video, or --load-4bit."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m videolisa",
        description="VideoLISA: answer questions about a video and segment what they point at.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"videolisa.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command and return its exit code.

    A :class:`UserInputError` becomes one line on stderr and exit code 2; no traceback.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Weight-loading progress bars and bitsandbytes' note about an optional CPU kernel
        # package are noise on a command line that prints one result line.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        return int(args.run(args) or 0)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        print(f"error: {OUT_OF_MEMORY_MESSAGE}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
