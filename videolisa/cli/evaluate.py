"""``python -m videolisa eval``: run a benchmark with the published prompts and score it."""

from __future__ import annotations

import argparse
from pathlib import Path

from videolisa.cli.options import (
    add_frame_arguments,
    add_memory_arguments,
    add_model_arguments,
    add_track_limit_argument,
    add_tracker_arguments,
    encode_settings,
    load_pipeline,
    tracking_settings,
)
from videolisa.errors import ConfigError
from videolisa.evaluation.benchmarks import BENCHMARKS, REGISTRY

DESCRIPTION = """\
Run a benchmark with the published evaluation prompts and forced answer ("Sure, <TRK>." for
videos, "<TRK>." for images), write the predictions in the layout the benchmark's scorer reads,
score what can be scored locally and write DIR/summary.json.

--data per benchmark:
  reasonvos  the ReasonVOS folder (JPEGImages/, Annotations/, meta_expressions.json);
             predictions DIR/predictions/<vid_key>/<exp_id>/<frame>.png with
             vid_key = <source>_<video>_<obj_id>; J, F, J&F
  mevis      a MeViS split folder (valid_u: with mask_dict.json, scored here; valid: without,
             predictions DIR/Annotations/... zipped to DIR/submission.zip for the server)
  refytvos   the Ref-YouTube-VOS root (valid/JPEGImages/, meta_expressions/valid/);
             DIR/Annotations/<video>/<exp_id>/<frame>.png zipped to DIR/submission.zip
  refdavis   the Ref-DAVIS17 root in Ref-YouTube-VOS layout; each annotator's expressions
             merged and scored by the published DAVIS 2017 rules (summary's davis2017)
  reasonseg  a ReasonSeg split folder (<name>.jpg + <name>.json); gIoU, cIoU
  refcoco    LISA's refer_seg folder (<dataset>/refs(<by>).p, <dataset>/instances.json,
             images/mscoco/images/train2014/); --refer-split picks the set; gIoU, cIoU
  toyworld   a folder written by 'python -m videolisa toyworld', or none: the held-out test
             sets; answers are generated (greedy); J, F, J&F, per_kind, text_accuracy,
             trk_precision, trk_recall

Resumable: a restarted run skips finished items (DIR/done/). Under 'accelerate launch -m
videolisa eval ...' the processes share the items; the main process writes the summary."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="run and score a benchmark (ReasonVOS, MeViS, Ref-YouTube-VOS, ...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    parser.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    parser.add_argument("--data", type=Path, default=None, help="the benchmark's folder")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_frame_arguments(parser)
    add_memory_arguments(parser)
    add_track_limit_argument(parser)
    add_tracker_arguments(parser)
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N items only")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=128,
        help="longest generated answer (benchmarks whose answers are generated: toyworld)",
    )
    for option in {
        option.name: option for entry in REGISTRY.values() for option in entry.options
    }.values():
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            type=option.type,
            default=option.default,
            metavar=option.metavar,
            help=option.help,
        )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from videolisa.evaluation.benchmarks import RunSettings, load_benchmark
    from videolisa.evaluation.runner import current_shard, run_benchmark
    from videolisa.inference.generation import GenerationSettings
    from videolisa.inference.trackers import mask_mode

    for flag in ("limit", "frames_sparse", "frames_dense"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            name = "--" + flag.replace("_", "-")
            raise ConfigError(f"{name} must be at least 1, got {value}.", f"Pass {name} 1 or more.")
    tracking = tracking_settings(args)
    entry = REGISTRY[args.benchmark]
    if tracking is not None and not entry.refinable:
        raise ConfigError(
            f"--refine and --propagate do not apply to {args.benchmark}.",
            "Leave them out for this benchmark.",
        )
    settings = RunSettings(
        encode_settings(args, tracking),
        GenerationSettings(max_new_tokens=args.max_new_tokens, max_tracks=args.max_tracks),
        tracking,
    )
    # --sam-batch and --max-memory change the masks at most by floating-point rounding, so they
    # are left out of the run's settings: a run may resume with others (e.g. a smaller batch
    # after running out of memory).
    run_config = {
        "benchmark": args.benchmark,
        "data": str(args.data.resolve()) if args.data else None,
        "model": _where(args.model),
        "vision_tower": _where(args.vision_tower),
        "dtype": args.dtype,
        "quantization": "4bit" if args.load_4bit else "8bit" if args.load_8bit else None,
        "frames_sparse": args.frames_sparse,
        "frames_dense": args.frames_dense,
        "max_tracks": args.max_tracks,
        "mode": mask_mode(tracking),
    }
    if tracking is not None:
        run_config["refine_model"] = _where(tracking.model)
        run_config["refine_keyframes"] = tracking.keyframes
    options = {option.name: getattr(args, option.name) for option in entry.options}
    run_config.update(options)
    if entry.generates:
        run_config["max_new_tokens"] = args.max_new_tokens
    shard = current_shard()
    benchmark = load_benchmark(args.benchmark, args.data, args.out, options)
    if tracking is not None:
        benchmark.use_tracking(tracking)
    summary = run_benchmark(
        benchmark,
        lambda: load_pipeline(args),
        args.out,
        settings,
        run_config,
        args.limit,
        shard,
    )
    if summary is None:
        return 0
    scores = {k: v for k, v in summary.items() if isinstance(v, float)}
    print(" ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    print(f"{summary['items']} items; wrote {args.out / 'summary.json'}")
    return 0


def _where(model: str | None) -> str | None:
    """A local folder as an absolute path (so a resumed run may name it otherwise); a hub id
    as given."""
    return str(Path(model).resolve()) if model and Path(model).exists() else model
