"""``python -m videolisa eval-masks``: J, F and J&F of predicted masks on ReasonVOS or MeViS."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from videolisa.errors import ConfigError
from videolisa.evaluation.score_masks import MISSING_RULES

DESCRIPTION = """\
Score predicted masks against a benchmark's ground truth with the DAVIS measures (J: region IoU,
F: boundary F-measure), matching the published ReasonVOS and MeViS evaluation scripts.

reasonvos: --meta lists each video's expressions as {"obj_id", "exp_id", "exp_text",
           "is_sent"}; --gt is the Annotations folder (GT/<vid_key>/<frame>.png, vid_key =
           <source>_<video>_<obj_id>); predictions are PRED/<vid_key>/<exp_id>/<frame>.png;
           each expression is scored under <vid_key>_<exp_id>.
mevis:     --gt is mask_dict.json (or its folder); predictions are
           PRED/<video>/<exp_id>/<frame>.png; scored under <video>_<exp_id>.

An expression with a missing prediction folder or frame is left out of the means, as the
published scripts leave it out (--missing skip); --missing empty scores it with empty masks.
Both list the missing paths and the left-out keys in DIR/summary.json.
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
        "--missing",
        choices=MISSING_RULES,
        default="skip",
        help="an expression with missing predictions: skip it as the published scripts do "
        "(default), or score the missing masks as empty",
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
        scores = score_items(items, args.pred, args.workers, args.missing, on_done=progress.update)
    summary = {"missing_rule": args.missing, **summarize(scores)}
    summary_path, csv_path = write_reports(summary, args.out)
    for name in ("J", "F", "J&F"):
        value = summary[name]
        print(f"{name + ':':<5}{'n/a' if value is None else f'{value:.6f}'}")
    skipped = summary["skipped"]
    print(
        f"{len(scores) - len(skipped)} of {len(scores)} expressions scored; "
        f"{len(summary['missing'])} missing predictions"
        + (
            f", {len(skipped)} expressions left out (--missing empty scores them)"
            if skipped
            else ""
        )
    )
    print(f"wrote {summary_path} and {csv_path}")
    return 0
