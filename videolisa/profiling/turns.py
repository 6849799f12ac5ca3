"""Time a first question and a follow-up, stage by stage, on a synthetic video held in memory
(``bench --random-init``; no video file is written or decoded, so no PyAV is needed).

First question: CLIP preprocessing, CLIP, SAM resizing, SAM's encoder, the LLM (the answer,
forced as in the published evaluation) and the masks of every frame (SAM's mask decoder, or a
tracker carrying the keyframes' masks). Follow-up: a second question on the encoded video (LLM
and masks). On a GPU every stage ends with a synchronisation, so each
stage's time is its own. Masks are streamed chunk by chunk and not kept.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from videolisa.errors import ConfigError
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.trackers import Tracker, TrackingSettings
from videolisa.modeling.chat_template import Message
from videolisa.modeling.device import synchronize
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.profiling.memory import MB, peak_gpu_bytes, peak_rss_bytes, reset_peak
from videolisa.profiling.synthetic import synthetic_video

FIRST_QUESTION = "Please segment the red square in this video."
FOLLOWUP_QUESTION = "Now please segment the green disc."
ENCODE_STAGES = ("clip_preprocess", "clip_encode", "sam_resize", "sam_encode")


@dataclass(frozen=True)
class TurnSettings:
    """The synthetic video and how it is encoded and segmented."""

    num_frames: int = 300
    height: int = 720
    width: int = 1280
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    tracking: TrackingSettings | None = None  # None: One-Token-Seg-All on every frame

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.num_frames}.")


@dataclass
class TurnReport:
    """Seconds per stage of each question, peak memory; :meth:`to_json` is what ``--json``
    writes."""

    settings: TurnSettings
    model: str
    first: dict[str, float]
    followup: dict[str, float]
    peak_gpu_mb: float | None
    peak_rss_mb: float
    sequence_length: int  # LLM positions of the first question
    tracks: int

    @property
    def first_s(self) -> float:
        return sum(self.first.values())

    @property
    def followup_s(self) -> float:
        return sum(self.followup.values())

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "settings": asdict(self.settings),
            "first_question": self.first,
            "followup": self.followup,
            "first_question_s": self.first_s,
            "followup_s": self.followup_s,
            "peak_gpu_mb": self.peak_gpu_mb,
            "peak_rss_mb": self.peak_rss_mb,
            "sequence_length": self.sequence_length,
            "tracks": self.tracks,
        }


def time_turns(
    pipeline: VideoLISAPipeline,
    settings: TurnSettings,
    tracker: Tracker | None = None,
) -> TurnReport:
    """Run a warm-up question on a 2-frame video, then time the two questions on a
    ``settings`` video; ``tracker`` is needed when ``settings.tracking`` is set."""
    if (settings.tracking is None) != (tracker is None):
        raise ConfigError("Tracking settings and a tracker go together.")
    frames = synthetic_video(settings.num_frames, settings.height, settings.width)
    warm = replace(settings.encode, sam_memory_budget_bytes=None)
    _question(
        pipeline, synthetic_video(2, settings.height, settings.width), warm, settings, tracker
    )
    reset_peak()
    first, encoded, answer_text, tracks = _question(
        pipeline, frames, settings.encode, settings, tracker
    )
    history = [Message("user", FIRST_QUESTION), Message("assistant", answer_text)]
    followup = _answer_and_masks(
        pipeline, encoded, frames, history, FOLLOWUP_QUESTION, settings, tracker
    )[0]
    gpu = peak_gpu_bytes()
    prompt = pipeline.prompt_ids(
        [Message("user", FIRST_QUESTION), Message("assistant", FORCED_ANSWER)], False
    )
    return TurnReport(
        settings=settings,
        model=pipeline.description,
        first=first,
        followup=followup,
        peak_gpu_mb=gpu / MB if gpu is not None else None,
        peak_rss_mb=peak_rss_bytes() / MB,
        sequence_length=pipeline.sequence_length(prompt, encoded),
        tracks=tracks,
    )


def _question(pipeline, frames, encode: EncodeSettings, settings: TurnSettings, tracker):
    """(seconds per stage, encoded video, answer text, tracks) of a first question."""
    start = time.perf_counter()
    encoded = pipeline.encode(frames, encode)
    synchronize(pipeline.device)
    seconds = {name: encoded.seconds.get(name, 0.0) for name in ENCODE_STAGES}
    # what encode spent outside its stages (sampling, the store's bookkeeping)
    seconds["encode_other"] = max(0.0, time.perf_counter() - start - sum(seconds.values()))
    more, text, tracks = _answer_and_masks(
        pipeline, encoded, frames, [], FIRST_QUESTION, settings, tracker
    )
    return {**seconds, **more}, encoded, text, tracks


def _answer_and_masks(
    pipeline, encoded: EncodedVideo, frames, history, question, settings, tracker
) -> tuple[dict[str, float], str, int]:
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    answer = pipeline.answer(encoded, history, question, forced_answer=FORCED_ANSWER)
    synchronize(pipeline.device)
    seconds["llm"] = time.perf_counter() - start
    start = time.perf_counter()
    chunks = pipeline.masks(encoded, frames, answer.track_embeddings, tracker, settings.tracking)
    for _chunk in chunks:
        pass  # each chunk's masks are on the CPU already (the end of the chunk's GPU work)
    seconds["tracking" if settings.tracking else "mask_decode"] = time.perf_counter() - start
    return seconds, answer.text, answer.num_tracks
