"""Time every stage of a chat turn on a synthetic video with a loaded pipeline.

First turn: decode + CLIP/SAM encode (preprocessing timed apart) + answer + masks + overlay
render on an uncached video.
Follow-up: a second question on the cached :class:`EncodedVideo` (answer + masks + render),
and the same follow-up with caching off (decode and encode again, as the published code does).
Mask decoding is timed batched (one decoder call per chunk of frames) and per frame (one call
per frame, as the published code does). Both speedups come from the same run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from videolisa.errors import ConfigError
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings, sam_frame_nbytes
from videolisa.inference.generation import GenerationSettings, generate_steps
from videolisa.inference.pipeline import Answer, VideoLISAPipeline
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.outputs import overlay_frames
from videolisa.profiling.memory import MB, peak_gpu_bytes, peak_rss_bytes, reset_peak
from videolisa.profiling.synthetic import synthetic_video
from videolisa.video import Video, read_video, write_mp4

FIRST_QUESTION = "Please segment the red square in this video."
FOLLOWUP_QUESTION = "Now please segment the green disc."
FPS = 24.0


@dataclass(frozen=True)
class BenchmarkSettings:
    """What to run: the synthetic video's size and the pipeline's settings."""

    num_frames: int = 64
    height: int = 240
    width: int = 320
    encode: EncodeSettings = field(
        default_factory=lambda: EncodeSettings(sam_memory_budget_bytes=2 * 10**9)
    )
    max_new_tokens: int = 16  # tokens generated for the generation rate
    scaling_frames: tuple[int, ...] = ()  # frame counts run beyond a small SAM budget

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.num_frames}.")
        if self.max_new_tokens < 2:
            raise ConfigError(
                f"--new-tokens must be at least 2 to time generation, got {self.max_new_tokens}."
            )


@dataclass(frozen=True)
class Stage:
    """One timed stage: ``items`` processed in ``seconds``."""

    seconds: float
    items: int
    unit: str  # what an item is: "frames" or "tokens"

    @property
    def rate(self) -> float | None:
        return self.items / self.seconds if self.items and self.seconds > 0 else None

    def to_json(self) -> dict:
        rate = self.rate
        return {
            "seconds": self.seconds,
            "items": self.items,
            f"{self.unit}_per_s": rate,
        }


@dataclass
class ScalingPoint:
    """Peak memory of one turn on a video longer than the SAM memory budget."""

    num_frames: int
    budget_bytes: int
    kept_frames: int  # frames whose SAM embeddings stayed in memory
    store_peak_bytes: int  # the SAM-embedding store's own peak
    peak_rss_mb: float


@dataclass
class BenchmarkReport:
    """Timings of one run; :meth:`to_json` is what ``--json`` writes."""

    settings: BenchmarkSettings
    stages: dict[str, Stage]
    first_turn_s: float
    followup_s: float
    followup_uncached_s: float
    per_frame_decode_s: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    description: str
    scaling: list[ScalingPoint] = field(default_factory=list)

    @property
    def followup_speedup(self) -> float:
        return self.followup_uncached_s / self.followup_s

    @property
    def batched_decode_speedup(self) -> float:
        return self.per_frame_decode_s / self.stages["mask_decode"].seconds

    def to_json(self) -> dict:
        return {
            "model": self.description,
            "settings": asdict(self.settings),
            "stages": {name: stage.to_json() for name, stage in self.stages.items()},
            "first_turn_s": self.first_turn_s,
            "followup_s": self.followup_s,
            "followup_uncached_s": self.followup_uncached_s,
            "followup_speedup": self.followup_speedup,
            "per_frame_decode_s": self.per_frame_decode_s,
            "batched_decode_speedup": self.batched_decode_speedup,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_gpu_mb": self.peak_gpu_mb,
            "memory_scaling": [asdict(point) for point in self.scaling],
        }


class _Clock:
    """Named wall-clock intervals."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start


def run_benchmark(
    pipeline: VideoLISAPipeline, settings: BenchmarkSettings, workdir: str | Path
) -> BenchmarkReport:
    """Run every stage once on a synthetic ``settings`` video written under ``workdir``."""
    workdir = Path(workdir)
    frames = synthetic_video(settings.num_frames, settings.height, settings.width)
    source = workdir / "synthetic.mp4"
    write_mp4(source, frames, FPS)
    del frames
    _warm_up(pipeline, settings)
    reset_peak()

    clock = _Clock()
    with clock("first_turn"):
        with clock("decode"):
            video = read_video(source)
        encoded = _encode(pipeline, video, settings)
        with clock("answer"):
            answer = pipeline.answer(encoded, [], FIRST_QUESTION, forced_answer=FORCED_ANSWER)
        with clock("mask_decode"):
            masks = pipeline.track_masks(encoded, answer.track_embeddings)
        with clock("render"):
            write_mp4(workdir / "overlay.mp4", overlay_frames(video, masks, 0.5), video.fps)

    history = [Message("user", FIRST_QUESTION), Message("assistant", answer.text)]
    with clock("followup"):
        _followup(pipeline, encoded, video, history, workdir)
    with clock("followup_uncached"):
        uncached = _encode(pipeline, read_video(source), settings)
        _followup(pipeline, uncached, video, history, workdir)
    del uncached
    with clock("per_frame_decode"):
        _per_frame_masks(pipeline, encoded, answer)

    prompt = pipeline.prompt_ids([Message("user", FIRST_QUESTION)], add_generation_prompt=True)
    prefill_s, generation_s = _generation_times(pipeline, encoded, prompt, settings.max_new_tokens)
    total = video.num_frames
    num_tracks = max(1, answer.num_tracks)
    num_sparse = len(encoded.sampling.sparse)
    stages = {
        "decode": Stage(clock.seconds["decode"], total, "frames"),
        "clip_preprocess": Stage(encoded.seconds["clip_preprocess"], num_sparse, "frames"),
        "clip_encode": Stage(encoded.seconds["clip_encode"], num_sparse, "frames"),
        "llm_prefill": Stage(prefill_s, pipeline.sequence_length(prompt, encoded), "tokens"),
        "generation": Stage(generation_s, settings.max_new_tokens - 1, "tokens"),
        "sam_resize": Stage(encoded.seconds["sam_resize"], encoded.sam.plan.kept_frames, "frames"),
        "sam_encode": Stage(encoded.seconds["sam_encode"], encoded.sam.plan.kept_frames, "frames"),
        "mask_decode": Stage(clock.seconds["mask_decode"], total * num_tracks, "frames"),
        "render_encode": Stage(clock.seconds["render"], total, "frames"),
    }
    rss, gpu = peak_rss_bytes(), peak_gpu_bytes()
    report = BenchmarkReport(
        settings=settings,
        stages=stages,
        first_turn_s=clock.seconds["first_turn"],
        followup_s=clock.seconds["followup"],
        followup_uncached_s=clock.seconds["followup_uncached"],
        per_frame_decode_s=clock.seconds["per_frame_decode"],
        peak_rss_mb=rss / MB,
        peak_gpu_mb=gpu / MB if gpu is not None else None,
        description=pipeline.description,
    )
    del video, encoded, masks
    report.scaling = memory_scaling(pipeline, settings)
    return report


def memory_scaling(pipeline: VideoLISAPipeline, settings: BenchmarkSettings) -> list[ScalingPoint]:
    """One turn (encode, answer, masks) at each of ``settings.scaling_frames`` with a SAM
    budget below all of them (the run's budget, or a quarter of the shortest video's
    embeddings if that is smaller), measuring peak RSS and the store's own peak."""
    if not settings.scaling_frames:
        return []
    frame_nbytes = sam_frame_nbytes(pipeline.model)
    budget = frame_nbytes * max(1, min(settings.scaling_frames) // 4)
    if settings.encode.sam_memory_budget_bytes is not None:
        budget = min(budget, settings.encode.sam_memory_budget_bytes)
    points = []
    for count in settings.scaling_frames:
        frames = synthetic_video(count, settings.height, settings.width)
        reset_peak()
        encoded = pipeline.encode(frames, replace(settings.encode, sam_memory_budget_bytes=budget))
        answer = pipeline.answer(encoded, [], FIRST_QUESTION, forced_answer=FORCED_ANSWER)
        pipeline.track_masks(encoded, answer.track_embeddings)
        points.append(
            ScalingPoint(
                num_frames=count,
                budget_bytes=budget,
                kept_frames=encoded.sam.plan.kept_frames,
                store_peak_bytes=encoded.sam.peak_nbytes,
                peak_rss_mb=peak_rss_bytes() / MB,
            )
        )
        del frames, encoded
    return points


def _encode(pipeline: VideoLISAPipeline, video: Video, settings: BenchmarkSettings) -> EncodedVideo:
    return pipeline.encode(video.frames, settings.encode)


def _followup(
    pipeline: VideoLISAPipeline,
    encoded: EncodedVideo,
    video: Video,
    history: list[Message],
    workdir: Path,
) -> None:
    answer = pipeline.answer(encoded, history, FOLLOWUP_QUESTION, forced_answer=FORCED_ANSWER)
    masks = pipeline.track_masks(encoded, answer.track_embeddings)
    write_mp4(workdir / "followup.mp4", overlay_frames(video, masks, 0.5), video.fps)


def _per_frame_masks(
    pipeline: VideoLISAPipeline, encoded: EncodedVideo, answer: Answer
) -> np.ndarray:
    """The masks of :meth:`VideoLISAPipeline.track_masks` with one decoder call per frame."""
    height, width = encoded.original_hw
    masks = np.zeros((answer.num_tracks, encoded.num_frames, height, width), dtype=bool)
    for window, embeddings in encoded.sam.chunks():
        for offset in range(len(embeddings)):
            for track, embedding in enumerate(answer.track_embeddings):
                logits = pipeline.mask_logits(encoded, embeddings[offset : offset + 1], embedding)
                masks[track, window.start + offset] = (logits[0] > 0).cpu().numpy()
        del embeddings
    return masks


def _generation_times(
    pipeline: VideoLISAPipeline, encoded: EncodedVideo, prompt: list[int], new_tokens: int
) -> tuple[float, float]:
    """(prefill seconds up to the first new token, seconds for the ``new_tokens - 1`` after
    it) of generating exactly ``new_tokens`` tokens (no stop token ends it early)."""
    stamps: list[float] = []
    start = time.perf_counter()
    steps = generate_steps(
        pipeline.model,
        prompt,
        encoded.llm_prefix,
        pipeline.tokenizer.track_token_id,
        stop_ids=set(),
        settings=GenerationSettings(max_new_tokens=new_tokens),
    )
    for _token in steps:
        stamps.append(time.perf_counter())
    return stamps[0] - start, stamps[-1] - stamps[0]


def _warm_up(pipeline: VideoLISAPipeline, settings: BenchmarkSettings) -> None:
    """One tiny turn so that one-time costs (kernel selection, lazy imports) are not timed."""
    frames = synthetic_video(2, settings.height, settings.width)
    encoded = pipeline.encode(frames, replace(settings.encode, sam_memory_budget_bytes=None))
    answer = pipeline.answer(encoded, [], FIRST_QUESTION, forced_answer=FORCED_ANSWER)
    pipeline.track_masks(encoded, answer.track_embeddings)
