"""One chat turn end to end, for the app and its API: video in, text deltas and result files out.

UI-free: the app turns the events of :meth:`ChatService.run_turn` into chat messages, the service
knows nothing of Gradio. It owns the pipeline and the video cache shared by every conversation
(so a follow-up question, or the same video sent through the API, is not encoded again).

A turn is a generator that runs in the caller's thread, one bounded step at a time (a batch of
frames, one token, a chunk of masks): closing it (the app's Stop button, Clear, a closed tab)
stops the work at the next step and frees the model; nothing keeps running afterwards. Every
turn is bounded: at most ``max_tracks`` tracks per answer, at most ``MAX_NEW_TOKENS`` generated
tokens, masks written a chunk of frames at a time.

service = ChatService(pipeline, VideoLimits(max_frames=600))
conversation = service.open_conversation()
conversation.attach("cat.mp4")
for event in service.run_turn(conversation, "Where is the cat?", TurnSettings()):
    ...  # Notice, TextDelta, Progress, then TurnDone or TurnFailed
conversation.close()
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from videolisa.chat.session import ChatSession, PreparedTurn
from videolisa.defaults import DEFAULT_MAX_TRACKS
from videolisa.errors import ConfigError, UserInputError, VideoError, is_out_of_memory
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.inference.pipeline import Answer, VideoLISAPipeline
from videolisa.inference.propagation import PropagationSettings, Sam2Propagator
from videolisa.inference.video_cache import VideoCache, content_key
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.outputs import ResultWriter
from videolisa.video import Video, VideoLimits, read_video

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = (
    "Something went wrong while answering (the details are in the server log). "
    "Ask again, or attach the video again."
)
OPERATOR_ADVICE = (
    "operators: on a GPU start the app with --load-4bit; lower --max-memory, --sam-batch, "
    "--max-frames or --max-tracks"
)
MASKS_ZIP = "masks.zip"
MAX_NEW_TOKENS = 512  # the most a turn may generate, whatever the settings ask

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class TurnSettings:
    """How to answer one question (the app's Settings accordion); frame counts left as None
    are the model's own."""

    num_sparse: int | None = None  # frames the LLM sees
    num_dense: int | None = None  # of those, kept at full detail
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    always_mask: bool = False  # answer FORCED_ANSWER (the published evaluation mode)
    opacity: float = 0.5  # of the mask fill in the overlay video
    refine: bool = False  # carry the keyframes' masks over the video with SAM 2

    def __post_init__(self) -> None:
        EncodeSettings(self.num_sparse, self.num_dense)  # validates the frame counts
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise ConfigError(
                f"Max new tokens must be between 1 and {MAX_NEW_TOKENS}, got "
                f"{self.max_new_tokens}.",
                "Use e.g. 128.",
            )
        if not 0 <= self.opacity <= 1:
            raise ConfigError(f"Opacity must be in [0, 1], got {self.opacity}.", "Use e.g. 0.5.")

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature)


# --------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Notice:
    """A line to show the user with the answer (history trimmed, question cut, new video,
    answer cut at the track limit)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """More answer text (``<TRK>`` marks a track)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps of ``stage``: "decode", "encode", "answer", "refine" (SAM 2
    starts), "masks" or "render"; ``seconds`` since the turn started."""

    stage: str
    done: int
    total: int
    seconds: float = 0.0


@dataclass(frozen=True)
class TurnDone:
    """The finished answer; with tracks, the overlay (an MP4, or a PNG for a single image) and
    a zip of the mask PNGs."""

    answer: str
    num_tracks: int
    overlay: Path | None = None
    masks_zip: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnFailed:
    """The turn ended without masks; ``message`` is for the user, ``text`` the answer text
    streamed before the failure (kept in the chat)."""

    message: str
    text: str = ""


TurnEvent = Notice | TextDelta | Progress | TurnDone | TurnFailed


# --------------------------------------------------------------------------- conversation
@dataclass
class Conversation:
    """One user's state: the chat session, its video, a video waiting to be used, and a folder
    for result files.

    A newly attached video is ``pending`` until a turn has read it: a file that cannot be read
    is refused once and the conversation keeps its previous video and history."""

    workdir: Path
    session: ChatSession = field(default_factory=ChatSession)
    video: Path | None = None
    pending: Path | None = None
    turns: int = 0

    def attach(self, path: str | Path) -> None:
        """Use ``path`` as the video from the next turn on (if that turn can read it)."""
        self.pending = Path(path).resolve()

    def next_folder(self) -> Path:
        """A new folder under ``workdir`` for one turn's files."""
        self.turns += 1
        folder = self.workdir / f"turn-{self.turns:03d}"
        folder.mkdir(parents=True)
        return folder

    def close(self) -> None:
        """Delete this conversation's files."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        logger.debug("removed %s", self.workdir)


@dataclass(frozen=True)
class CachedVideo:
    """A decoded video (for overlays) with its encoding (for the model)."""

    video: Video
    encoded: EncodedVideo

    @property
    def nbytes(self) -> int:
        return int(self.video.frames.nbytes) + self.encoded.nbytes


@dataclass
class _TurnState:
    """How far a turn got: for progress times, and for saying what ran out of memory."""

    started: float = field(default_factory=time.perf_counter)
    stage: str = "decode"
    video: Video | None = None
    tracks: int = 0
    text: str = ""

    def progress(self, stage: str, done: int, total: int) -> Progress:
        self.stage = stage
        return Progress(stage, done, total, time.perf_counter() - self.started)


# -------------------------------------------------------------------------------- service
class ChatService:
    """Runs chat turns and API calls on one pipeline, with a video cache shared by all users."""

    def __init__(
        self,
        pipeline: VideoLISAPipeline,
        limits: VideoLimits | None = None,
        cache: VideoCache[CachedVideo] | None = None,
        workdir_root: str | Path | None = None,
        encode: EncodeSettings | None = None,
        max_tracks: int = DEFAULT_MAX_TRACKS,
        video_notice: Callable[[Video], str | None] | None = None,
        refine: PropagationSettings | None = None,
    ) -> None:
        """``video_notice`` may return a line to show with every answer about a video (e.g.
        that the model was not made for videos like it). ``refine`` names the SAM 2 model for
        turns that ask for refinement (loaded at the first such turn)."""
        self.pipeline = pipeline
        self.video_notice = video_notice
        self.refine = refine or PropagationSettings()
        self._propagator: Sam2Propagator | None = None
        # how SAM encodes (frame counts come from each turn's settings)
        self.encode = encode or EncodeSettings(sam_memory_budget_bytes=512 * 2**20)
        self.max_tracks = max_tracks
        self.limits = limits or VideoLimits()
        self.cache = cache or VideoCache(max_entries=8, max_bytes=2 << 30)
        self.workdir_root = Path(workdir_root or tempfile.gettempdir())
        self._model_lock = threading.Lock()

    def open_conversation(self) -> Conversation:
        """A new conversation with its own temporary folder (removed by ``close``)."""
        self.workdir_root.mkdir(parents=True, exist_ok=True)
        return Conversation(Path(tempfile.mkdtemp(prefix="videolisa-chat-", dir=self.workdir_root)))

    def run_turn(
        self, conversation: Conversation, question: str, settings: TurnSettings
    ) -> Iterator[TurnEvent]:
        """Answer ``question`` about the conversation's video, streaming events.

        Ends with :class:`TurnDone` or :class:`TurnFailed` (a readable message). The question
        and answer join the history once the answer's text is complete (a turn stopped while
        writing keeps the text so far). A blank question with a newly attached video only reads
        the video.
        Never raises for a user's mistake, a bad file or running out of memory; closing the
        generator stops the turn at its next step.
        """
        state = _TurnState()
        yield from self._guarded(self._turn(conversation, question, settings, state), state)

    def segment(
        self, conversation: Conversation, video: str | Path, prompt: str, settings: TurnSettings
    ) -> Iterator[TurnEvent]:
        """One question about ``video`` outside the conversation's history (the API endpoint),
        streaming events as :meth:`run_turn`; result files go to the conversation's folder."""
        state = _TurnState()

        def work() -> Generator[TurnEvent, None, None]:
            cached = yield from self._load(Path(video), settings, state)
            session = ChatSession()
            counter = self._position_counter(cached, settings)
            prepared = session.prepare(prompt, counter, self.pipeline.context_length)
            answer = yield from self._answer(cached, session, prepared, settings, state)
            yield (yield from self._write(conversation, cached, answer, settings, state))

        yield from self._guarded(work(), state)

    # ------------------------------------------------------------------------ one turn
    def _turn(
        self,
        conversation: Conversation,
        question: str,
        settings: TurnSettings,
        state: _TurnState,
    ) -> Generator[TurnEvent, None, None]:
        session = conversation.session
        path = conversation.pending or conversation.video
        if path is None:
            raise VideoError("No video yet.", "Attach a video or an image to your message.")
        new_video = conversation.pending is not None
        if new_video:
            pending = conversation.pending
            try:
                cached = yield from self._load(pending, settings, state)
            except VideoError as error:  # refused once; a stopped turn tries it again
                conversation.pending = None
                keep = " The conversation keeps its previous video." if conversation.video else ""
                raise VideoError(error.problem, (error.fix or "") + keep) from error
            conversation.pending = None
            had_history = bool(session.history)
            conversation.video = pending
            if session.set_video(str(pending)) and had_history:
                yield Notice("New video: the conversation starts over.")
        else:
            cached = yield from self._load(path, settings, state)
        notice = self.video_notice(cached.video) if self.video_notice else None
        if notice:
            yield Notice(notice)
        if new_video and not question.strip():
            video = cached.video
            yield TurnDone(
                f"Got the video ({video.num_frames} frames, {video.width}×{video.height}). "
                "Ask a question about it.",
                0,
            )
            return
        prepared = session.prepare(
            question, self._position_counter(cached, settings), self.pipeline.context_length
        )
        for notice in prepared.notices:
            yield Notice(notice)
        answer = yield from self._answer(cached, session, prepared, settings, state)
        yield (yield from self._write(conversation, cached, answer, settings, state))

    def _load(
        self, path: Path, settings: TurnSettings, state: _TurnState
    ) -> Generator[TurnEvent, None, CachedVideo]:
        """The decoded and encoded video, from the cache when it was seen with these settings."""
        encode = replace(self.encode, num_sparse=settings.num_sparse, num_dense=settings.num_dense)
        frames = encode.frame_counts(self.pipeline.default_frames)
        key = content_key(path, *frames, extra=self.pipeline.description)
        cached = self.cache.get(key)
        if cached is not None:
            state.video = cached.video
            return cached
        yield state.progress("decode", 0, 1)
        video = read_video(path, self.limits)
        state.video = video
        encoded = None
        steps = self._locked(self.pipeline.encode_steps(video.frames, encode))
        while encoded is None:
            try:
                step = next(steps)
            except StopIteration as stop:
                encoded = stop.value
            else:
                if step.stage == "sam_encode":
                    yield state.progress("encode", step.done, step.total)
        # the content key, not the file name: names of uploads can be private too
        logger.info("encoded %s (%d frames): %s", key[:12], video.num_frames, encoded.seconds)
        cached = CachedVideo(video, encoded)
        self.cache.put(key, cached)
        return cached

    def _position_counter(self, cached: CachedVideo, settings: TurnSettings):
        """Positions a prompt of given messages takes with this video and the answer's room."""
        forced = FORCED_ANSWER if settings.always_mask else None

        def count_positions(messages: list[Message]) -> int:
            return self.pipeline.prompt_positions(
                cached.encoded, messages, forced, settings.max_new_tokens
            )

        return count_positions

    def _answer(
        self,
        cached: CachedVideo,
        session: ChatSession,
        prepared: PreparedTurn,
        settings: TurnSettings,
        state: _TurnState,
    ) -> Generator[TurnEvent, None, Answer]:
        """Answer the prepared question, streaming text; the turn joins ``session``'s history
        when the text is complete, or with the text so far when the turn is stopped."""
        yield state.progress("answer", 0, 1)
        steps = self._locked(
            self.pipeline.answer_steps(
                cached.encoded,
                prepared.history,
                prepared.question,
                forced_answer=FORCED_ANSWER if settings.always_mask else None,
                settings=settings.generation,
                max_tracks=self.max_tracks,
            )
        )
        try:
            while True:
                try:
                    delta = next(steps)
                except StopIteration as stop:
                    answer: Answer = stop.value
                    break
                state.text += delta
                yield TextDelta(delta)
        except GeneratorExit:
            if state.text.strip():
                session.record_turn(prepared, f"{state.text.strip()} …")
            raise
        session.record_turn(prepared, answer.text)
        state.text = answer.text
        if answer.track_limit_hit:
            yield Notice(
                f"The answer asked for more than {self.max_tracks} objects; it was cut after "
                f"the first {self.max_tracks} (at most {self.max_tracks} per answer)."
            )
        return answer

    def _write(
        self,
        conversation: Conversation,
        cached: CachedVideo,
        answer: Answer,
        settings: TurnSettings,
        state: _TurnState,
    ) -> Generator[TurnEvent, None, TurnDone]:
        """Decode every track's masks a chunk of frames at a time, writing the overlay and the
        mask PNGs as they come, then zip the masks, in a new folder of ``conversation``."""
        state.tracks = answer.num_tracks
        if answer.num_tracks == 0:
            return TurnDone(answer.text, 0)
        video, encoded = cached.video, cached.encoded
        if settings.refine:
            yield state.progress("refine", 0, 1)
            masks = self.pipeline.propagated_mask_steps(
                encoded, video.frames, answer.track_embeddings, self._sam2(), self.refine
            )
            yield Notice(f"Masks refined over time by SAM 2 ({Path(self.refine.model).name}).")
        else:
            masks = self.pipeline.mask_steps(encoded, answer.track_embeddings)
        folder = conversation.next_folder()
        start = time.perf_counter()
        try:
            with ResultWriter(folder, video, answer.num_tracks, settings.opacity) as writer:
                yield state.progress("masks", 0, video.num_frames)
                for chunk in self._locked(masks):
                    writer.add(chunk.frames, chunk.masks)
                    yield state.progress("masks", chunk.frames.stop, video.num_frames)
                decode = time.perf_counter() - start - writer.render_seconds
                mode = "refine_sam2" if settings.refine else "one_token_seg_all"
                summary = writer.finish(
                    answer.text, encoded.sampling, {"mask_decode": decode}, mode
                )
            yield state.progress("render", 0, 1)
            masks_zip = zip_result(folder)
        except BaseException:  # no half-written result stays behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return TurnDone(
            answer.text,
            answer.num_tracks,
            overlay=writer.overlay_path,
            masks_zip=masks_zip,
            seconds=summary["seconds"],
        )

    def _sam2(self) -> Sam2Propagator:
        """The SAM 2 model of refined turns, loaded once (a missing checkpoint is a user
        error naming it)."""
        if self._propagator is None:
            with self._model_lock:
                self._propagator = Sam2Propagator.from_pretrained(
                    self.refine.model, self.pipeline.device
                )
        return self._propagator

    def _locked(self, steps: Generator[Item, None, Result]) -> Generator[Item, None, Result]:
        """``steps`` with the model lock held while each step runs (not between steps, so a
        paused or stopped turn never holds it); closing this closes ``steps``."""
        try:
            while True:
                with self._model_lock:
                    try:
                        item = next(steps)
                    except StopIteration as stop:
                        return stop.value
                yield item
        finally:
            steps.close()

    def _guarded(
        self, turn: Generator[TurnEvent, None, None], state: _TurnState
    ) -> Iterator[TurnEvent]:
        """The events of ``turn``; an error becomes a :class:`TurnFailed` with a message for
        the user (no server path in it) and one log line (a traceback only for bugs)."""
        try:
            yield from turn
        except UserInputError as error:
            logger.info("turn refused: %s", error)
            yield TurnFailed(hide_paths(str(error)), state.text)
        except Exception as error:
            if is_out_of_memory(error):
                logger.warning(
                    "out of memory while %s (%s): %s; %s",
                    state.stage,
                    _what(state),
                    error,
                    OPERATOR_ADVICE,
                )
                yield TurnFailed(out_of_memory_message(state), state.text)
            else:
                logger.exception("chat turn failed")
                yield TurnFailed(INTERNAL_ERROR_MESSAGE, state.text)
        finally:
            turn.close()


def out_of_memory_message(state: _TurnState) -> str:
    """What ran out of memory, in the user's terms, and what they can do."""
    what = _what(state)
    if state.stage in ("masks", "render"):
        return (
            f"Ran out of memory while segmenting {state.tracks} "
            f"object{'s' if state.tracks != 1 else ''} on {what}. Ask about fewer objects at "
            "once, or use a shorter or smaller video."
        )
    if state.stage == "answer":
        return (
            f"Ran out of memory while writing the answer about {what}. Use fewer frames "
            "(Settings), or start a new conversation."
        )
    return (
        f"Ran out of memory while reading and encoding {what}. Use a shorter or smaller video, "
        "or fewer frames (Settings)."
    )


def _what(state: _TurnState) -> str:
    video = state.video
    if video is None:
        return "the video"
    return f"{video.num_frames} frames of {video.width}×{video.height}"


_DIRECTORIES = re.compile(r"(?<![\w.])/(?:[^/\s:]+/)+")


def hide_paths(message: str) -> str:
    """``message`` with the folders of absolute paths removed (file names stay), so server
    paths such as upload folders never reach a user."""
    return _DIRECTORIES.sub("", message)


def zip_result(folder: Path) -> Path:
    """``folder/masks.zip`` holding ``masks/<track>/<frame>.png`` and ``result.json`` (the
    layout of ``segment --out``)."""
    target = folder / MASKS_ZIP
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for png in sorted((folder / "masks").rglob("*.png")):
            archive.write(png, png.relative_to(folder).as_posix())
        archive.write(folder / "result.json", "result.json")
    return target
