"""``python -m videolisa eval-masks``: J, F and J&F of predicted masks on ReasonVOS or MeViS."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from videolisa.errors import ConfigError

DESCRIPTION = """\
Score predicted masks against a benchmark's ground truth with the DAVIS measures (J: region IoU,
F: boundary F-measure), matching the published ReasonVOS and MeViS evaluation scripts.

reasonvos: --gt is the Annotations folder (GT/<source>_<video>_<obj_id>/<frame>.png);
           predictions are PRED/<video>/<obj_id>/<frame>.png.
mevis:     --gt is mask_dict.json (or its folder); predictions are
           PRED/<video>/<exp_id>/<frame>.png.

Missing predictions count as empty masks and are listed in DIR/summary.json.
Writes DIR/summary.json and DIR/per_expression.csv."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-masks",
        help="score predicted masks on ReasonVOS or MeViS (J, F, J&F)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pred", type=Path, required=True, help="folder of predicted PNG masks")
    parser.add_argument(
        "--gt", type=Path, required=True, help="ground truth: Annotations folder or mask_dict.json"
    )
    parser.add_argument("--meta", type=Path, required=True, help="the meta_expressions.json file")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="report folder")
    parser.add_argument(
        "--layout", choices=("reasonvos", "mevis"), default="reasonvos", help="benchmark layout"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes scoring expressions in parallel (default: all CPU cores)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from videolisa.evaluation.layouts import load_items
    from videolisa.evaluation.score_masks import (
        prepare_out_dir,
        score_items,
        summarize,
        write_reports,
    )

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}.", "Pass --workers 1.")
    items = load_items(args.layout, args.pred, args.gt, args.meta)
    prepare_out_dir(args.out)
    with tqdm(total=len(items), desc="scoring", unit="expr", disable=None) as progress:
        scores = score_items(items, args.pred, args.workers, on_done=progress.update)
    summary = summarize(scores)
    summary_path, csv_path = write_reports(summary, args.out)
    print(f"J:   {summary['J']:.6f}")
    print(f"F:   {summary['F']:.6f}")
    print(f"J&F: {summary['J&F']:.6f}")
    print(f"{len(scores)} expressions; {len(summary['missing'])} missing predictions")
    print(f"wrote {summary_path} and {csv_path}")
    return 0
