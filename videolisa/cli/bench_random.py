"""``bench --random-init``: the published architecture with random weights, timed question by
question and stage by stage on a synthetic video in memory, with its peak memory beside the
dry-run estimate (see :mod:`videolisa.profiling.random_model` and
:mod:`videolisa.profiling.turns`)."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from videolisa.errors import ConfigError

GB = 10**9
DEFAULT_FRAMES = 300
DEFAULT_SIZE = "1280x720"
TRACKERS = ("sam2", "sam3")  # random-weight trackers (videolisa.profiling.random_tracker)
# Options that only --random-init reads, with the value that means "not given".
RANDOM_INIT_ONLY = {"scale": "full", "refine": None, "propagate": None}


def add_random_init_arguments(parser: argparse.ArgumentParser) -> None:
    """``--random-init`` and ``--scale``."""
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="build the architecture of --config with random weights (no download) and time "
        f"a first question and a follow-up on a {DEFAULT_FRAMES}-frame {DEFAULT_SIZE} video",
    )
    parser.add_argument(
        "--scale",
        choices=["full", "tiny"],
        default="full",
        help="with --random-init: full (the published sizes) or tiny (every width and depth "
        "shrunk, token counts kept: the same code path in seconds on a CPU)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--refine",
        choices=TRACKERS,
        default=None,
        help="with --random-init: a tracker with random weights (sam2: SAM 2.1 hiera-tiny's "
        "sizes, sam3: SAM 3's tracker) refines the masks over time from the dense frames",
    )
    mode.add_argument(
        "--propagate",
        choices=TRACKERS,
        default=None,
        help="with --random-init: SAM encodes only the dense frames and the tracker (random "
        "weights) carries their masks to every frame",
    )


def check_random_init_unused(args: argparse.Namespace) -> None:
    """A ConfigError when an option of --random-init is given without it."""
    for name, unset in RANDOM_INIT_ONLY.items():
        if getattr(args, name) != unset:
            raise ConfigError(
                f"--{name} applies to --random-init only.",
                "Add --random-init, or leave the option out.",
            )


def parse_frame_size(text: str) -> tuple[int, int]:
    """(width, height) of a ``WIDTHxHEIGHT`` size."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(
            f"--size {text!r} is not WIDTHxHEIGHT.", "Use e.g. --size 320x240."
        ) from None
    if width < 16 or height < 16:
        raise ConfigError(f"--size {text} is too small.", "Use at least 16x16.")
    return width, height


def run_random_init(args: argparse.Namespace) -> int:
    """Build, time, print the stage table, write ``--json``."""
    from videolisa.cli.options import encode_settings

    report = random_init_report(
        config=args.config,
        scale=args.scale,
        dtype=args.dtype,
        device=args.device,
        quantization="4bit" if args.load_4bit else "8bit" if args.load_8bit else None,
        frames=args.frames or DEFAULT_FRAMES,
        size=parse_frame_size(args.size or DEFAULT_SIZE),
        encode=encode_settings(args),
        text_tokens=args.text_tokens,
        propagation="refine" if args.refine else "propagate" if args.propagate else None,
        tracker=args.refine or args.propagate or TRACKERS[0],
    )
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def random_init_report(
    config: str | None,
    scale: str,
    dtype: str,
    device: str,
    quantization: str | None,
    frames: int,
    size: tuple[int, int],
    encode,
    text_tokens: int = 128,
    propagation: str | None = None,
    tracker: str = TRACKERS[0],
) -> dict:
    """Everything ``bench --random-init`` reports, as JSON-ready values; ``propagation``
    "refine" or "propagate" makes the masks with the random-weight ``tracker``."""
    from dataclasses import replace

    import torch
    import transformers

    from videolisa.inference.trackers import TrackingSettings
    from videolisa.profiling.estimate import estimate_memory
    from videolisa.profiling.memory import MB, peak_gpu_bytes, reset_peak
    from videolisa.profiling.random_model import meta_model, random_pipeline
    from videolisa.profiling.random_tracker import random_tracker
    from videolisa.profiling.turns import TurnSettings, time_turns

    width, height = size
    encode = replace(encode, sam_keyframes_only=propagation == "propagate")
    with tempfile.TemporaryDirectory(prefix="videolisa-random-") as workdir:
        reset_peak()
        pipeline = random_pipeline(workdir, config, scale, dtype, device, quantization)
        carrier, tracking = None, None
        if propagation:
            sam_dtype = pipeline.model.sam.image_encoder.patch_embed.proj.weight.dtype
            carrier = random_tracker(tracker, pipeline.device, sam_dtype, scale)
            budget = encode.sam_memory_budget_bytes
            tracking = TrackingSettings(propagation, tracker, feature_budget_bytes=budget)
        built_gpu = peak_gpu_bytes()
        settings = TurnSettings(frames, height, width, encode, tracking)
        report = time_turns(pipeline, settings, carrier).to_json()
    sparse, dense = encode.frame_counts(pipeline.default_frames)
    estimate = estimate_memory(
        meta_model(config, scale), frames, sparse, dense, text_tokens, encode.sam_batch
    )
    precision = quantization or "bf16"
    on = pipeline.device
    report.update(
        {
            "scale": scale,
            "precision": pipeline.precision,
            "device": torch.cuda.get_device_name(on)
            if on.type == "cuda"
            else platform.processor() or on.type,
            "weights_gpu_mb": built_gpu / MB if built_gpu is not None else None,
            "estimate_gb": estimate.total(precision) / GB,
            "estimate_precision": precision,
            "frames_sparse": sparse,
            "frames_dense": dense,
            "sam_batch": encode.sam_batch,
            "masks": propagation or "plain",
            "tracker": f"{carrier.name} ({carrier.checkpoint})" if carrier else None,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
    )
    return report


def print_report(report: dict) -> None:
    """The stage table of a report: seconds of each stage in both questions."""
    print(f"model: {report['model']} — {report['device']}")
    settings = report["settings"]
    print(
        f"video: {settings['num_frames']} frames of {settings['width']}x{settings['height']}, "
        f"{report['frames_sparse']} sparse / {report['frames_dense']} dense, SAM batch "
        f"{report['sam_batch']}, {report['sequence_length']} LLM positions, masks: "
        f"{report['tracker'] or 'SAM decoder on every frame'}"
        + (f" ({report['masks']})" if report["tracker"] else "")
    )
    first, followup = report["first_question"], report["followup"]
    print(f"{'stage':<18}{'first (s)':>11}{'follow-up (s)':>15}")
    for name in dict.fromkeys([*first, *followup]):
        later = followup.get(name)
        print(f"  {name:<16}{first.get(name, 0.0):11.3f}" + (f"{later:15.3f}" if later else ""))
    print(
        f"{'total':<18}{report['first_question_s']:11.3f}{report['followup_s']:15.3f}  "
        f"({report['first_question_s'] / report['followup_s']:.1f}× cheaper follow-up)"
    )
    gpu = report["peak_gpu_mb"]
    memory = f"peak GPU {gpu / 1024:.2f} GiB, " if gpu is not None else ""
    print(
        f"memory: {memory}peak RSS {report['peak_rss_mb'] / 1024:.2f} GiB; dry-run estimate "
        f"{report['estimate_gb']:.2f} GB ({report['estimate_precision']} weights, bfloat16 "
        "activations)"
    )
