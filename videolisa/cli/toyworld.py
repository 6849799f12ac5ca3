"""``python -m videolisa toyworld``: write a procedural toy-world data set to a folder.

The folder has the published ReasonVOS layout, with toy-world fields (see
:mod:`videolisa.toyworld.disk`); read it back with
:func:`videolisa.toyworld.disk.read_toyworld_folder`.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from videolisa.errors import ConfigError
from videolisa.toyworld import KINDS, WorldConfig

_CONFIG_FLAGS = ("min_frames", "max_frames", "min_size", "max_size")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toyworld",
        help="write a procedural toy-world data set (videos, masks, questions)",
        description="Write random videos of coloured shapes with questions and answers about "
        "them, in the ReasonVOS layout: JPEGImages/, Annotations/, meta_expressions.json.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder to write (created if missing; must not hold a data set)",
    )
    parser.add_argument("--videos", type=int, required=True, help="number of videos")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"comma-separated question kinds, cycled in order (default: {','.join(KINDS)})",
    )
    for name in _CONFIG_FLAGS:
        default = getattr(WorldConfig, name)
        bound = "minimum" if name.startswith("min") else "maximum"
        unit = "frames per video" if name.endswith("frames") else "frame width and height"
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=default,
            help=f"{bound} {unit} (default: {default})",
        )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from videolisa.toyworld import check_kinds, iter_samples
    from videolisa.toyworld.disk import write_toyworld_folder

    if args.videos < 1:
        raise ConfigError(
            f"--videos {args.videos} is not a positive count.", "Use --videos 1 or more."
        )
    kinds = check_kinds([k.strip() for k in args.kinds.split(",") if k.strip()])
    config = WorldConfig(**{name: getattr(args, name) for name in _CONFIG_FLAGS})
    samples = itertools.islice(iter_samples(args.seed, kinds, config), args.videos)
    written = write_toyworld_folder(
        tqdm(samples, total=args.videos, desc="toyworld", unit="video", disable=None), args.out
    )
    print(f"wrote {written} videos to {args.out}")
    return 0
