"""``python -m videolisa segment``: answer one question about a video and write its masks."""

from __future__ import annotations

import argparse
import json
import sys
import time

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
from videolisa.cli.pointing import (
    add_pointing_arguments,
    apply_pointing,
    check_pointing,
    frame_prompts,
)
from videolisa.modeling.tokenizer import FORCED_ANSWER


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment what a question asks for on every frame of a video or image",
        description="Answer a question about a video (or image) and write one mask per frame "
        "for every <TRK> in the answer, an overlay video and result.json; --click and --box "
        "correct a track or make one by pointing.",
    )
    add_model_arguments(parser)
    parser.add_argument("--video", required=True, help="video file, image, or folder of frames")
    parser.add_argument(
        "--prompt", default=None, help="the question (may be left out with --click or --box)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--generate", action="store_true", help="generate the answer freely")
    mode.add_argument(
        "--answer",
        default=None,
        help=f"force this answer (default {FORCED_ANSWER!r}, the published evaluation mode); "
        "<TRK> or the checkpoint's own track token marks each mask",
    )
    add_frame_arguments(parser)
    add_memory_arguments(parser)
    add_track_limit_argument(parser)
    add_tracker_arguments(parser)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--max-frames", type=int, default=2000, help="refuse longer videos")
    parser.add_argument("--max-side", type=int, default=4096, help="refuse larger frames")
    parser.add_argument("--opacity", type=float, default=0.5, help="overlay mask opacity")
    parser.add_argument("--out", required=True, help="output folder")
    add_pointing_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    import torch

    from videolisa.inference.generation import GenerationSettings
    from videolisa.inference.pipeline import Answer
    from videolisa.inference.trackers import load_tracker, mask_mode
    from videolisa.outputs import ResultWriter, check_output_folder, write_failure
    from videolisa.video import VideoLimits, read_video

    check_pointing(args)
    tracking = tracking_settings(args)
    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        max_tracks=args.max_tracks,
    )
    out = check_output_folder(args.out)  # before any work: a bad --out is said at once
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    video = read_video(args.video, VideoLimits(max_frames=args.max_frames, max_side=args.max_side))
    seconds["decode"] = time.perf_counter() - start
    for prompt in frame_prompts(args):  # before the model loads: a bad click is said at once
        prompt.check(video.num_frames, video.height, video.width)

    start = time.perf_counter()
    pipeline = load_pipeline(args)
    tracker = (
        load_tracker(tracking.entry, tracking.checkpoint, pipeline.device) if tracking else None
    )
    seconds["load_model"] = time.perf_counter() - start

    encoded = pipeline.encode(video.frames, encode_settings(args, tracking))
    seconds.update(encoded.seconds)

    start = time.perf_counter()
    if args.prompt is None:  # the clicks alone make the track: no answer, no LLM
        answer = Answer("", [], torch.zeros(0, pipeline.model.config.out_dim))
    else:
        forced = None if args.generate else (args.answer or FORCED_ANSWER)
        answer = pipeline.answer(encoded, [], args.prompt, forced, settings)
    seconds["answer"] = time.perf_counter() - start
    if answer.track_limit_hit:
        print(
            f"The answer asked for more than {args.max_tracks} objects; it was cut before the "
            f"next one (--max-tracks {args.max_tracks}).",
            file=sys.stderr,
        )

    start = time.perf_counter()
    chunks = pipeline.masks(encoded, video.frames, answer.track_embeddings, tracker, tracking)
    try:
        with ResultWriter(out, video, answer.num_tracks, args.opacity) as writer:
            for chunk in chunks:
                writer.add(chunk.frames, chunk.masks)
            seconds["mask_decode"] = time.perf_counter() - start - writer.render_seconds
            summary = writer.finish(answer.text, encoded.sampling, seconds, mask_mode(tracking))
        if args.click or args.box:
            summary = apply_pointing(
                args, pipeline, encoded, video, out, answer.num_tracks, tracker, tracking
            )
    except BaseException as error:
        shutil.rmtree(out / "masks", ignore_errors=True)
        if isinstance(error, OSError):
            raise write_failure(error, out) from error
        raise
    print(json.dumps({k: summary[k] for k in ("answer", "num_tracks", "num_frames")}))
    return 0
