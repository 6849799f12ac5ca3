"""``python -m videolisa bench``: time every stage on a synthetic video, or (``--dry-run``)
estimate the memory each precision needs without loading weights."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from videolisa.cli.bench_random import (
    add_random_init_arguments,
    check_random_init_unused,
    parse_frame_size,
    run_random_init,
)
from videolisa.cli.options import (
    add_frame_arguments,
    add_memory_arguments,
    add_model_arguments,
    encode_settings,
    load_pipeline,
)
from videolisa.defaults import DEFAULT_MODEL, DEFAULT_REFINE_MODEL
from videolisa.errors import ConfigError

GB = 10**9


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time every stage on a synthetic video; --dry-run estimates memory",
        description="Run the pipeline on a synthetic video and report the speed of every "
        "stage, first-turn and follow-up times and peak memory. With --dry-run, print the "
        "memory each precision needs (from the model's config, no weights loaded).",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames of the synthetic video (default 64; 300 with --random-init)",
    )
    parser.add_argument(
        "--size",
        default=None,
        help="WIDTHxHEIGHT of the synthetic video (default 320x240; 1280x720 with --random-init)",
    )
    add_frame_arguments(parser)
    add_memory_arguments(parser)
    parser.add_argument("--new-tokens", type=int, default=16, help="tokens to generate")
    parser.add_argument(
        "--scaling-frames",
        default=None,
        help="comma-separated frame counts run beyond a small SAM budget to show memory "
        "stays bounded (default: FRAMES and 4×FRAMES; 'none' skips)",
    )
    parser.add_argument("--json", default=None, help="also write the report to this file")
    parser.add_argument(
        "--dry-run", action="store_true", help="estimate memory per precision, load no weights"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="with --dry-run: a config.json to estimate instead of --model's; with "
        "--random-init: the architecture to build (default: the shared golden guess of the "
        "published config)",
    )
    add_random_init_arguments(parser)
    parser.add_argument(
        "--text-tokens", type=int, default=128, help="with --dry-run: text and answer tokens"
    )
    parser.add_argument(
        "--tracks", type=int, default=1, help="with --dry-run: objects per answer (FLOPs)"
    )
    parser.add_argument(
        "--refine-model",
        default=DEFAULT_REFINE_MODEL,
        metavar="ID_OR_DIR",
        help="with --dry-run: the SAM 2 of the refine and propagate modes (a known id or a "
        f"local folder; default {DEFAULT_REFINE_MODEL})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.random_init:
        return run_random_init(args)
    check_random_init_unused(args)
    args.frames = args.frames or 64
    width, height = parse_frame_size(args.size or "320x240")
    if args.config is None and not _model_available(args.model):
        raise ConfigError(
            f"The bundled model {DEFAULT_MODEL} does not exist yet.",
            "Pass --model with a checkpoint folder or hub id (or --config with --dry-run).",
        )
    report = _dry_run(args) if args.dry_run else _benchmark(args, width, height)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _benchmark(args: argparse.Namespace, width: int, height: int) -> dict:
    from videolisa.profiling.stages import BenchmarkSettings, run_benchmark

    settings = BenchmarkSettings(
        num_frames=args.frames,
        height=height,
        width=width,
        encode=encode_settings(args),
        max_new_tokens=args.new_tokens,
        scaling_frames=_scaling_frames(args.scaling_frames, args.frames),
    )
    pipeline = load_pipeline(args)
    with tempfile.TemporaryDirectory(prefix="videolisa-bench-") as workdir:
        report = run_benchmark(pipeline, settings, workdir).to_json()
    _print_benchmark(report)
    return report


def _dry_run(args: argparse.Namespace) -> dict:
    from videolisa.profiling.estimate import PRECISIONS, estimate_memory, load_meta_model

    model = load_meta_model(
        None if args.config else args.model, args.config, vision_tower=args.vision_tower
    )
    sparse, dense = model.config.default_frames
    estimate = estimate_memory(
        model,
        args.frames,
        args.frames_sparse or sparse,
        args.frames_dense or dense,
        text_tokens=args.text_tokens,
        sam_batch=args.sam_batch,
    )
    report = estimate.to_json()
    print(f"weights (GB)          {'params':>9} " + " ".join(f"{p:>7}" for p in PRECISIONS))
    for part in estimate.weights:
        sizes = " ".join(f"{part.nbytes[p] / GB:7.2f}" for p in PRECISIONS)
        print(f"  {part.name:<22}{part.params / 1e9:8.3f}B {sizes}")
    width = max(len(part.name) for part in estimate.activations) + 1
    print(f"{f'activations (GB), {args.frames} frames':<{width + 2}}float32 bfloat16")
    for part in estimate.activations:
        nbytes = part.nbytes
        print(f"  {part.name:<{width}}{nbytes['float32'] / GB:7.2f} {nbytes['bfloat16'] / GB:8.2f}")
    print(
        "peak with bfloat16 activations (GB): "
        + ", ".join(f"{p} {estimate.total(p) / GB:.1f}" for p in PRECISIONS)
    )
    print(
        "Stages run one after another, so the peak adds the largest transient activation "
        "(attention, CLIP states, KV cache) to the weights and the kept SAM embeddings; "
        "embeddings beyond --max-memory are recomputed chunk by chunk instead of kept."
    )
    report["modes"] = _print_modes(model, args, keyframes=args.frames_dense or dense)
    return report


def _print_modes(model, args: argparse.Namespace, keyframes: int) -> dict:
    """FLOPs and kept memory of the three ways of making masks (see profiling.modes)."""
    from videolisa.profiling.modes import mode_estimates, stage_costs

    costs = stage_costs(model, args.refine_model)
    modes = mode_estimates(costs, args.frames, min(keyframes, args.frames), args.tracks)
    print(
        f"masks of {args.tracks} track(s) on {args.frames} frames, {keyframes} keyframes "
        f"(TFLOP, 2 per multiply-add; kept GB in bfloat16; SAM 2: {args.refine_model}, "
        f"{costs.sam2_params / 1e6:.1f}M parameters)"
    )
    for mode in modes:
        stages = ", ".join(f"{name} {gflop / 1e3:.1f}" for name, gflop in mode.gflop.items())
        kept = ", ".join(f"{name} {nbytes / GB:.2f}" for name, nbytes in mode.kept_bytes.items())
        print(f"  {mode.mode:<18}{mode.total_gflop / 1e3:9.1f} TFLOP = {stages}; kept: {kept}")
    return {mode.mode: mode.to_json() for mode in modes}


def _print_benchmark(report: dict) -> None:
    print(f"model: {report['model']}")
    print(f"{'stage':<16}{'seconds':>9}{'rate':>12}")
    for name, stage in report["stages"].items():
        unit = next(k for k in stage if k.endswith("_per_s"))
        rate = stage[unit]
        shown = f"{rate:10.1f} {unit.removesuffix('_per_s')}/s" if rate else "         -"
        print(f"{name:<16}{stage['seconds']:9.3f}{shown}")
    print(f"first turn      {report['first_turn_s']:9.3f} s")
    uncached = report["followup_uncached_s"]
    print(
        f"follow-up       {report['followup_s']:9.3f} s (uncached {uncached:.3f} s, "
        f"cache speedup {report['followup_speedup']:.1f}×)"
    )
    print(
        f"mask decode     batched speedup over one call per frame "
        f"{report['batched_decode_speedup']:.1f}×"
    )
    gpu = report["peak_gpu_mb"]
    print(
        f"peak RSS        {report['peak_rss_mb']:9.0f} MB" + (f", GPU {gpu:.0f} MB" if gpu else "")
    )
    for point in report["memory_scaling"]:
        print(
            f"  {point['num_frames']:5d} frames, SAM budget {_human(point['budget_bytes'])}: "
            f"{point['kept_frames']} frames kept, store peak {_human(point['store_peak_bytes'])},"
            f" peak RSS {point['peak_rss_mb']:.0f} MB"
        )


def _human(nbytes: int) -> str:
    for unit, size in (("GB", GB), ("MB", 10**6), ("kB", 10**3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B"


def _scaling_frames(text: str | None, frames: int) -> tuple[int, ...]:
    if text is None:
        return (frames, 4 * frames)
    if text.lower() == "none":
        return ()
    try:
        counts = tuple(int(v) for v in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise ConfigError(
            f"--scaling-frames {text!r} is not a list of frame counts.", "Use e.g. 64,256."
        )
    return counts


def _model_available(model: str) -> bool:
    """False only for the bundled default model when it has not been trained yet."""
    return model != str(DEFAULT_MODEL) or DEFAULT_MODEL.is_dir()
