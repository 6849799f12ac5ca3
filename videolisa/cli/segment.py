"""``python -m videolisa segment``: answer one question about a video and write its masks."""

from __future__ import annotations

import argparse
import json
import time

from videolisa.defaults import DEFAULT_MODEL

FORCED_ANSWER = "Sure, <TRK>."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment what a question asks for on every frame of a video or image",
        description="Answer a question about a video (or image) and write one mask per frame "
        "for every <TRK> in the answer, an overlay video and result.json.",
    )
    add_model_arguments(parser)
    parser.add_argument("--video", required=True, help="video file, image, or folder of frames")
    parser.add_argument("--prompt", required=True, help="the question")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--generate", action="store_true", help="generate the answer freely")
    mode.add_argument(
        "--answer",
        default=None,
        help=f"force this answer (default {FORCED_ANSWER!r}, the published evaluation mode); "
        "<TRK> or the checkpoint's own track token marks each mask",
    )
    parser.add_argument(
        "--frames-sparse",
        type=int,
        default=None,
        help="frames seen by the LLM (default: the model's; 32 for the published one)",
    )
    parser.add_argument(
        "--frames-dense",
        type=int,
        default=None,
        help="of those, kept at full detail (default: the model's; 4 for the published one)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--max-frames", type=int, default=2000, help="refuse longer videos")
    parser.add_argument("--max-side", type=int, default=4096, help="refuse larger frames")
    parser.add_argument("--opacity", type=float, default=0.5, help="overlay mask opacity")
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(run=run)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--vision-tower``, ``--dtype``, ``--device``, ``--load-4bit/8bit``."""
    parser.add_argument(
        "--model",
        default=str(DEFAULT_MODEL),
        help="checkpoint folder or hub id (default: the bundled toy-world model)",
    )
    parser.add_argument(
        "--vision-tower",
        default=None,
        help="CLIP folder or hub id (default: the checkpoint config's vision_tower)",
    )
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"]
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    quant = parser.add_mutually_exclusive_group()
    quant.add_argument("--load-4bit", action="store_true", help="NF4 LLM (bitsandbytes)")
    quant.add_argument("--load-8bit", action="store_true", help="8-bit LLM (bitsandbytes)")


def load_pipeline(args: argparse.Namespace):
    """The pipeline the model arguments ask for."""
    from videolisa.inference.pipeline import VideoLISAPipeline

    quantization = "4bit" if args.load_4bit else "8bit" if args.load_8bit else None
    return VideoLISAPipeline.from_pretrained(
        args.model,
        vision_tower=args.vision_tower,
        dtype=args.dtype,
        device=args.device,
        quantization=quantization,
    )


def run(args: argparse.Namespace) -> int:
    from videolisa.inference.generation import GenerationSettings
    from videolisa.outputs import SegmentationResult, write_result
    from videolisa.video import VideoLimits, read_video

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    video = read_video(args.video, VideoLimits(max_frames=args.max_frames, max_side=args.max_side))
    seconds["decode"] = time.perf_counter() - start

    start = time.perf_counter()
    pipeline = load_pipeline(args)
    seconds["load_model"] = time.perf_counter() - start

    encoded = pipeline.encode(video.frames, args.frames_sparse, args.frames_dense)
    seconds.update(encoded.seconds)

    start = time.perf_counter()
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    forced = None if args.generate else (args.answer or FORCED_ANSWER)
    answer = pipeline.answer(encoded, [], args.prompt, forced_answer=forced, settings=settings)
    seconds["answer"] = time.perf_counter() - start

    start = time.perf_counter()
    masks = pipeline.track_masks(encoded, answer.track_embeddings)
    seconds["mask_decode"] = time.perf_counter() - start

    result = SegmentationResult(answer.text, masks, encoded.sampling, seconds)
    summary = write_result(args.out, video, result, args.opacity)
    print(json.dumps({k: summary[k] for k in ("answer", "num_tracks", "num_frames")}))
    return 0
