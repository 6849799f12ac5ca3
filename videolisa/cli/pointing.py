"""``segment --click FRAME:X,Y[:-] --box FRAME:X0,Y0,X1,Y1 --track K``: correct an answer's track,
or make one from the clicks alone, by pointing (coordinates in the video's pixels)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from videolisa.inference.encoded_video import EncodedVideo
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.inference.trackers import Tracker, TrackingSettings
    from videolisa.inference.visual_prompts import FramePrompt
    from videolisa.video import Video

_NUMBER = r"-?\d+(?:\.\d+)?"
_CLICK = re.compile(rf"^(\d+):({_NUMBER}),({_NUMBER})(:[-+])?$")
_BOX = re.compile(rf"^(\d+):({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})$")


def add_pointing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--click",
        action="append",
        default=[],
        type=_click,
        metavar="FRAME:X,Y[:-]",
        help="a click on frame FRAME at pixel (X, Y): adds the object there to the track, or "
        "with ':-' takes it away; repeat for more",
    )
    parser.add_argument(
        "--box",
        action="append",
        default=[],
        type=_box,
        metavar="FRAME:X0,Y0,X1,Y1",
        help="a box on frame FRAME: adds what SAM finds inside it",
    )
    parser.add_argument(
        "--track",
        type=int,
        default=None,
        metavar="K",
        help="the answer's track the clicks correct (default: a new object)",
    )


def frame_prompts(args: argparse.Namespace) -> list[FramePrompt]:
    """One prompt per frame clicked on, in the order the frames first appear."""
    from videolisa.inference.visual_prompts import FramePrompt

    frames: dict[int, FramePrompt] = {}
    for frame, click in args.click:
        prompt = frames.get(frame, FramePrompt(frame))
        frames[frame] = FramePrompt(frame, (*prompt.clicks, click), prompt.box)
    for frame, box in args.box:
        prompt = frames.get(frame, FramePrompt(frame))
        frames[frame] = FramePrompt(frame, prompt.clicks, box)
    return list(frames.values())


def apply_pointing(
    args: argparse.Namespace,
    pipeline: VideoLISAPipeline,
    encoded: EncodedVideo,
    video: Video,
    out: Path,
    num_tracks: int,
    tracker: Tracker | None,
    tracking: TrackingSettings | None,
) -> dict:
    """Correct track ``--track`` (or make a new one) of the result in ``out`` from the clicks
    and boxes; result.json's content.

    Raises:
        ConfigError: a frame, click or box outside the video, a track that does not exist, or
            a new track beyond ``--max-tracks``.
    """
    from videolisa.chat.clicks import rewrite_track
    from videolisa.errors import ConfigError
    from videolisa.inference.corrections import Correction
    from videolisa.outputs.corrections import finish_corrections

    prompts = frame_prompts(args)
    for prompt in prompts:
        prompt.check(video.num_frames, video.height, video.width)
    track = args.track
    if track is not None and not 0 <= track < num_tracks:
        raise ConfigError(
            f"--track {track} does not exist (the answer has {num_tracks} tracks).",
            "Pick one of its tracks, or leave --track out to make a new one.",
        )
    if track is None and num_tracks >= args.max_tracks:
        raise ConfigError(
            f"The answer has {num_tracks} tracks already (--max-tracks {args.max_tracks}).",
            "Correct one of them with --track K.",
        )
    target = num_tracks if track is None else track
    corrections = [Correction(target, prompt) for prompt in prompts]
    for _written in rewrite_track(
        pipeline, encoded, video.frames, out, corrections, target, tracker, tracking
    ):
        pass
    recorded = [c.to_json() for c in corrections]
    return finish_corrections(out, video, max(num_tracks, target + 1), recorded, args.opacity)


def check_pointing(args: argparse.Namespace) -> None:
    """Raises ConfigError when there is neither a question nor anything pointed at."""
    from videolisa.errors import ConfigError

    if args.prompt is None and not (args.click or args.box):
        raise ConfigError(
            "Nothing to segment: no --prompt and no --click or --box.",
            'Ask with --prompt "...", or point with --click FRAME:X,Y.',
        )
    if args.track is not None and args.prompt is None:
        raise ConfigError(
            "--track corrects an answer's track: it needs --prompt.",
            "Add --prompt, or leave --track out to make a track from the clicks alone.",
        )


def _click(text: str):
    from videolisa.inference.visual_prompts import Click

    match = _CLICK.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not FRAME:X,Y or FRAME:X,Y:- (e.g. 37:120,80)"
        )
    frame, x, y, sign = match.groups()
    return int(frame), Click(float(x), float(y), positive=sign != ":-")


def _box(text: str):
    from videolisa.inference.visual_prompts import Box

    match = _BOX.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not FRAME:X0,Y0,X1,Y1 (e.g. 37:10,10,90,60)")
    frame, *corners = match.groups()
    return int(frame), Box(*map(float, corners))
