"""One chat turn end to end, for the app and its API: video in, text deltas and result files out.

UI-free: the app turns the events of :meth:`ChatService.run_turn` into chat messages, the service
knows nothing of Gradio. It owns the pipeline, the trackers and the video cache shared by every
conversation (so a follow-up question, or the same video sent through the API, is not encoded
again); everything it keeps per video (decoded frames, SAM embeddings, trackers' features)
counts toward one memory budget.

A turn is a generator that runs in the caller's thread, one bounded step at a time (a batch of
frames, one token, a chunk of masks): closing it (the app's Stop button, Clear, a closed tab)
stops the work at the next step and frees the model; nothing keeps running afterwards. Every
turn is bounded: at most ``generation.max_tracks`` tracks per answer, at most
:data:`~videolisa.chat.settings.MAX_NEW_TOKENS` generated tokens, masks written a chunk of
frames at a time.

service = ChatService(pipeline, VideoLimits(max_frames=600))
conversation = service.open_conversation()
conversation.attach("cat.mp4")
for event in service.run_turn(conversation, "Where is the cat?", service.form.settings()):
    ...  # Notice, TextDelta, Progress, then TurnDone or TurnFailed
conversation.close()
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from videolisa.chat.conversation import Conversation
from videolisa.chat.events import (
    Notice,
    Progress,
    TextDelta,
    TrackSummary,
    TurnDone,
    TurnEvent,
    TurnFailed,
)
from videolisa.chat.memory import release_freed_memory
from videolisa.chat.messages import (
    INTERNAL_ERROR_MESSAGE,
    OPERATOR_ADVICE,
    TurnStage,
    hide_paths,
    out_of_memory_message,
)
from videolisa.chat.session import DEFAULT_MAX_QUESTION_CHARS, ChatSession, PreparedTurn
from videolisa.chat.settings import SettingsForm, TurnSettings
from videolisa.defaults import DEFAULT_MAX_TRACKS
from videolisa.errors import ConfigError, UserInputError, VideoError, is_out_of_memory
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.inference.pipeline import Answer, VideoLISAPipeline
from videolisa.inference.trackers import (
    REGISTRY,
    TrackerCache,
    TrackingSettings,
    mask_mode,
)
from videolisa.inference.video_cache import VideoCache, content_key
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.outputs import (
    ResultWriter,
    folder_bytes,
    overlay_frame,
    redraw_overlay,
    zip_result,
)
from videolisa.video import Video, VideoLimits, read_video

logger = logging.getLogger(__name__)

DEFAULT_MAX_MEMORY = 512 * 2**20  # what the cache keeps for all videos together
DEFAULT_MAX_DISK = 2 * 2**30  # result files of all conversations together
DEFAULT_MAX_CONVERSATION_DISK = 256 * 2**20  # result files of one conversation
Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class CachedVideo:
    """A decoded video (for overlays) with its encoding (for the model) and its cache key."""

    key: str
    path: Path
    video: Video | None  # None in the cache when only the encoding fits: frames are read again
    encoded: EncodedVideo

    @property
    def nbytes(self) -> int:
        frames = int(self.video.frames.nbytes) if self.video is not None else 0
        return frames + self.encoded.nbytes


@dataclass
class _TurnState(TurnStage):
    """How far a turn got: for progress times, and for saying what ran out of memory."""

    started: float = field(default_factory=time.perf_counter)
    text: str = ""
    refused_video: bool = False  # the turn's new video could not be read

    def progress(self, stage: str, done: int, total: int) -> Progress:
        self.stage = stage
        return Progress(stage, done, total, time.perf_counter() - self.started)


class ChatService:
    """Runs chat turns and API calls on one pipeline, with a video cache shared by all users."""

    def __init__(
        self,
        pipeline: VideoLISAPipeline,
        limits: VideoLimits | None = None,
        workdir_root: str | Path | None = None,
        encode: EncodeSettings | None = None,
        max_memory_bytes: int | None = DEFAULT_MAX_MEMORY,
        max_tracks: int = DEFAULT_MAX_TRACKS,
        video_notice: Callable[[Video], str | None] | None = None,
        tracker_checkpoints: Mapping[str, str] | None = None,
        max_cached_videos: int = 8,
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        max_disk_bytes: int = DEFAULT_MAX_DISK,
        max_conversation_disk_bytes: int = DEFAULT_MAX_CONVERSATION_DISK,
    ) -> None:
        """``encode``: the server's SAM options and default frame counts (None: the model's).
        ``max_memory_bytes``: all the cache may keep (frames, SAM embeddings and trackers'
        features of every video; None: no limit). ``video_notice`` may return a line to show
        with every answer about a video (e.g. that the model was not made for videos like it).
        ``tracker_checkpoints``: a checkpoint per registered tracker name where it is not the
        tracker's default (loaded at the first turn that asks for it). Questions longer than
        ``max_question_chars`` are cut (a model trained on short questions wants less). Result
        files (overlays, masks) of one conversation are kept within
        ``max_conversation_disk_bytes`` and those of all within ``max_disk_bytes``: beyond them
        the oldest results are removed (an answer's own result always stays)."""
        self.pipeline = pipeline
        self.video_notice = video_notice
        self.encode = replace(encode or EncodeSettings(), sam_memory_budget_bytes=max_memory_bytes)
        self.max_memory_bytes = max_memory_bytes
        self.limits = limits or VideoLimits()
        self.cache: VideoCache[CachedVideo] = VideoCache(
            max_entries=max_cached_videos,
            max_bytes=max_memory_bytes if max_memory_bytes is not None else 1 << 62,
        )
        self.workdir_root = Path(workdir_root or tempfile.gettempdir())
        self.tracker_checkpoints = dict(tracker_checkpoints or {})
        self.max_question_chars = max_question_chars
        self.max_disk_bytes = max_disk_bytes
        self.max_conversation_disk_bytes = max_conversation_disk_bytes
        self._conversations: weakref.WeakSet[Conversation] = weakref.WeakSet()
        self._trackers = TrackerCache()
        self._model_lock = threading.Lock()
        frames = self.encode.frame_counts(pipeline.default_frames)
        self.form = SettingsForm(
            frames=frames,
            context_length=pipeline.context_length,
            tokens_per_dense_frame=pipeline.tokens_per_dense_frame,
            max_tracks=max_tracks,
            trackers=[(self.tracker_label(name), name) for name in REGISTRY],
        )

    def tracker_label(self, name: str) -> str:
        """What the app calls tracker ``name``: its title and checkpoint's name."""
        entry = REGISTRY[name]
        checkpoint = self.tracker_checkpoints.get(name, entry.default_checkpoint)
        return f"{entry.title} ({Path(checkpoint).name})"

    def open_conversation(self) -> Conversation:
        """A new conversation with its own temporary folder (removed by ``close``)."""
        self.workdir_root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="videolisa-chat-", dir=self.workdir_root))
        conversation = Conversation(folder, ChatSession(max_question_chars=self.max_question_chars))
        self._conversations.add(conversation)
        return conversation

    def close(self, conversation: Conversation) -> None:
        """End ``conversation`` and delete its files (its uploads and results)."""
        self._conversations.discard(conversation)
        conversation.close()

    def close_idle(self, seconds: float) -> int:
        """Close the conversations unused for ``seconds`` (not one that is answering); how
        many."""
        now = time.monotonic()
        idle = [c for c in list(self._conversations) if now - c.last_used > seconds and not c.busy]
        for conversation in idle:
            self.close(conversation)
        if idle:
            logger.info("closed %d conversations idle for over %d s", len(idle), seconds)
        return len(idle)

    def warm_up(self) -> None:
        """Run the model once on a tiny synthetic video (CLIP, SAM, the LLM, the mask decoder),
        so that the first user's turn is as fast as later ones."""
        frames = np.zeros((2, 32, 32, 3), dtype=np.uint8)
        frames[:, 8:24, 8:24] = 200
        with self._model_lock:
            encoded = self.pipeline.encode(frames, replace(self.encode, num_sparse=2, num_dense=1))
            answer = self.pipeline.answer(encoded, [], "Where is it?", FORCED_ANSWER)
            for _chunk in self.pipeline.mask_steps(encoded, answer.track_embeddings):
                pass
            generation = GenerationSettings(max_new_tokens=2)
            self.pipeline.answer(encoded, [], "What is it?", settings=generation)

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
        turn = self._turn(conversation, question, settings, state)
        yield from self._guarded(self._using(conversation, turn), state)

    def segment(
        self, conversation: Conversation, video: str | Path, prompt: str, settings: TurnSettings
    ) -> Iterator[TurnEvent]:
        """One question about ``video`` outside the conversation's history (the API endpoint),
        streaming events as :meth:`run_turn` (notices included); result files go to the
        conversation's folder."""
        state = _TurnState()

        def work() -> Generator[TurnEvent, None, None]:
            cached = yield from self._load(Path(video), settings, state)
            yield from self._video_notices(cached)
            session = ChatSession(max_question_chars=self.max_question_chars)
            counter = self._position_counter(cached, settings)
            prepared = session.prepare(prompt, counter, self.pipeline.context_length)
            for notice in prepared.notices:
                yield Notice(notice)
            answer = yield from self._answer(cached, session, prepared, settings, state)
            yield (yield from self._write(conversation, cached, answer, settings, state))

        yield from self._guarded(self._using(conversation, work()), state)

    # ------------------------------------------------------------------ kept results
    def redraw(self, done: TurnDone, shown: Collection[int], opacity: float) -> Path:
        """A new overlay of answer ``done`` with only the tracks ``shown``, from its kept
        masks (no model call)."""
        return redraw_overlay(done.folder, self._video_of(done), done.num_tracks, shown, opacity)

    def frame_pair(
        self, done: TurnDone, frame: int, shown: Collection[int], opacity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``frame`` of answer ``done``'s video, and the same frame with the tracks
        ``shown``: two (H, W, 3) uint8 arrays (no model call).

        Raises:
            ConfigError: ``frame`` is not a frame of the video.
        """
        video = self._video_of(done)
        if not 0 <= frame < video.num_frames:
            raise ConfigError(
                f"Frame {frame} is not in the video (frames 0 to {video.num_frames - 1}).",
                "Pick a frame in that range.",
            )
        overlay = overlay_frame(done.folder, video, done.num_tracks, frame, shown, opacity)
        return video.frames[frame], overlay

    def _video_of(self, done: TurnDone) -> Video:
        """The decoded video of an answer: from the cache, else read again."""
        cached = self.cache.get(done.video_key) if done.video_key else None
        if cached is not None and cached.video is not None:
            return cached.video
        return read_video(done.video, self.limits)

    # ------------------------------------------------------------------------ one turn
    @staticmethod
    def _using(
        conversation: Conversation, work: Generator[TurnEvent, None, None]
    ) -> Generator[TurnEvent, None, None]:
        """``work``, with ``conversation`` marked busy while it runs and used when it ends."""
        if conversation.closed:
            raise ConfigError(
                "This conversation was closed (it was idle too long, or cleared).",
                "Start again: attach the video with your question.",
            )
        conversation.busy = True
        try:
            yield from work
        finally:
            conversation.busy = False
            conversation.last_used = time.monotonic()

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
                state.refused_video = True
                raise VideoError(error.problem, (error.fix or "") + keep) from error
            conversation.pending = None
            had_history = bool(session.history)
            conversation.video = pending
            if session.set_video(str(pending)) and had_history:
                yield Notice("New video: the conversation starts over.")
        else:
            cached = yield from self._load(path, settings, state)
        yield from self._video_notices(cached)
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

    def _video_notices(self, cached: CachedVideo) -> Iterator[Notice]:
        notice = self.video_notice(cached.video) if self.video_notice else None
        if notice:
            yield Notice(notice)

    def _load(
        self, path: Path, settings: TurnSettings, state: _TurnState
    ) -> Generator[TurnEvent, None, CachedVideo]:
        """The decoded and encoded video, from the cache when it was seen with these settings."""
        frames = settings.encode.frame_counts(
            self.encode.frame_counts(self.pipeline.default_frames)
        )
        encode = replace(self.encode, num_sparse=frames[0], num_dense=frames[1])
        key = content_key(path, *frames, extra=self.pipeline.description)
        cached = self.cache.get(key)
        if cached is not None and cached.video is None:  # only the encoding was kept
            yield state.progress("decode", 0, 1)
            cached = replace(cached, video=read_video(path, self.limits))
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
        cached = CachedVideo(key, path, video, encoded)
        self._keep(cached)
        return cached

    def _keep(self, cached: CachedVideo) -> None:
        """Keep ``cached`` (measured again: answers and trackers add to an encoding) within the
        cache's budget; where it is too large with its frames, its encoding alone (the frames
        are read again from the file, which costs no model time)."""
        kept = self.cache.put(cached.key, cached)
        if not kept and cached.video is not None:
            kept = self.cache.put(cached.key, replace(cached, video=None))
        if not kept:
            logger.debug("%s is not kept: its encoding alone exceeds --max-memory", cached.key[:12])

    def _position_counter(self, cached: CachedVideo, settings: TurnSettings):
        """Positions a prompt of given messages takes with this video and the answer's room."""
        forced = FORCED_ANSWER if settings.always_mask else None

        def count_positions(messages: list[Message]) -> int:
            return self.pipeline.prompt_positions(
                cached.encoded, messages, forced, settings.generation.max_new_tokens
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
        self._keep(cached)  # the answer kept the LLM's keys and values of the video with it
        if answer.track_limit_hit:
            limit = settings.generation.max_tracks
            yield Notice(
                f"The answer asked for more than {limit} objects; it was cut after the first "
                f"{limit} (at most {limit} per answer)."
            )
        return answer

    def _tracking(self, cached: CachedVideo, name: str) -> TrackingSettings:
        """Refinement by tracker ``name`` for ``cached``: its features may take what the cache
        budget leaves beside the video."""
        budget = None
        if self.max_memory_bytes is not None:
            budget = max(0, self.max_memory_bytes - cached.nbytes)
        checkpoint = self.tracker_checkpoints.get(name)
        return TrackingSettings.resolve("refine", name, checkpoint, feature_budget_bytes=budget)

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
        tracker = tracking = None
        if settings.refine is not None:
            yield state.progress("refine", 0, 1)
            tracking = self._tracking(cached, settings.refine)
            try:
                with self._model_lock:
                    tracker = self._trackers.get(
                        tracking.entry, tracking.checkpoint, self.pipeline.device
                    )
            except UserInputError as error:
                logger.warning("refinement unavailable: %s", error)
                yield Notice(refine_unavailable(tracking.entry.title, error))
                tracking = None
            else:
                yield Notice(f"Masks refined over time by {tracker_title(tracking)}.")
        masks = self.pipeline.masks(
            encoded, video.frames, answer.track_embeddings, tracker, tracking
        )
        folder = conversation.next_folder()
        start = time.perf_counter()
        try:
            with ResultWriter(folder, video, answer.num_tracks, settings.display.opacity) as writer:
                yield state.progress("masks", 0, video.num_frames)
                for chunk in self._locked(masks):
                    writer.add(chunk.frames, chunk.masks)
                    self._keep(cached)  # its trackers' features may have grown
                    yield state.progress("masks", chunk.frames.stop, video.num_frames)
                decode = time.perf_counter() - start - writer.render_seconds
                summary = writer.finish(
                    answer.text, encoded.sampling, {"mask_decode": decode}, mask_mode(tracking)
                )
            yield state.progress("render", 0, 1)
            masks_zip = zip_result(folder)
        except BaseException:  # no half-written result stays behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        conversation.keep_result(folder, folder_bytes(folder))
        self._keep_disk_bounds(conversation)
        return TurnDone(
            answer.text,
            answer.num_tracks,
            video.num_frames,
            video=cached.path,
            video_key=cached.key,
            folder=folder,
            overlay=writer.overlay_path,
            masks_zip=masks_zip,
            tracks=tuple(TrackSummary(**track) for track in summary["tracks"]),
            seconds=summary["seconds"],
        )

    def _keep_disk_bounds(self, latest: Conversation) -> None:
        """Remove the oldest results of ``latest`` beyond its bound, then the oldest of all
        conversations beyond the server's; the newest result of each conversation stays."""
        while latest.result_bytes > self.max_conversation_disk_bytes and len(latest.results) > 1:
            latest.remove_result(latest.results[0])
        conversations = [c for c in list(self._conversations) if c.results]
        total = sum(c.result_bytes for c in conversations)
        while total > self.max_disk_bytes:
            removable = [(c.results[0], c) for c in conversations if len(c.results) > 1]
            if not removable:
                break
            oldest, owner = min(removable, key=lambda pair: pair[0].created)
            owner.remove_result(oldest)
            total -= oldest.nbytes

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
            yield TurnFailed(hide_paths(str(error)), state.text, state.refused_video)
        except Exception as error:
            if is_out_of_memory(error):
                logger.warning(
                    "out of memory while %s (%s): %s; %s",
                    state.stage,
                    state.what,
                    error,
                    OPERATOR_ADVICE,
                )
                yield TurnFailed(out_of_memory_message(state), state.text)
            else:
                logger.exception("chat turn failed")
                yield TurnFailed(INTERNAL_ERROR_MESSAGE, state.text)
        finally:
            turn.close()
            release_freed_memory()


def tracker_title(tracking: TrackingSettings) -> str:
    """e.g. "SAM 2 (sam2.1-hiera-tiny)"."""
    return f"{tracking.entry.title} ({Path(tracking.model).name})"


def refine_unavailable(title: str, error: UserInputError) -> str:
    """The notice of a turn whose refinement could not run: its masks are the plain ones."""
    return (
        f"Refining over time with {title} is not available on this server, so these are the "
        f"plain masks. {hide_paths(error.problem)} Operators: start the app with "
        "--refine-model DIR (a downloaded checkpoint folder)."
    )
