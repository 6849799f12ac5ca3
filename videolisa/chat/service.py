"""One chat turn end to end, for the app and its API: video in, text deltas and result files out.

UI-free: the app turns the events of :meth:`ChatService.run_turn` into chat messages, the service
knows nothing of Gradio. It owns the pipeline, its lock, the trackers
(:mod:`~videolisa.chat.refinement`), the videos shared by every conversation
(:mod:`~videolisa.chat.videos`: a follow-up question, or the same video sent through the API,
is not encoded again) and the open conversations (:mod:`~videolisa.chat.conversations`).

A turn is a generator that runs in the caller's thread, one bounded step at a time (a batch of
frames, one token, a chunk of masks): closing it (the app's Stop button, Clear, a closed tab)
stops the work at the next step and frees the model; nothing keeps running afterwards. Every
turn is bounded: at most ``generation.max_tracks`` tracks per answer, at most
:data:`~videolisa.chat.settings.MAX_NEW_TOKENS` generated tokens, masks written a chunk of
frames at a time.

service = ChatService(pipeline, VideoLimits(max_frames=600))
conversation = service.conversations.open()
conversation.attach("cat.mp4")
for event in service.run_turn(conversation, "Where is the cat?", service.form.settings()):
    ...  # Notice, TextDelta, Progress, then TurnDone or TurnFailed
service.conversations.close(conversation)
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from videolisa.chat.clicks import ClickCorrections
from videolisa.chat.conversation import Conversation
from videolisa.chat.conversations import (
    DEFAULT_MAX_CONVERSATION_DISK,
    DEFAULT_MAX_DISK,
    ConversationStore,
)
from videolisa.chat.events import (
    Notice,
    TextDelta,
    TrackSummary,
    TurnDone,
    TurnEvent,
)
from videolisa.chat.messages import TurnState, guarded
from videolisa.chat.model_lock import ModelLock
from videolisa.chat.refinement import Refinement
from videolisa.chat.session import DEFAULT_MAX_QUESTION_CHARS, ChatSession, PreparedTurn
from videolisa.chat.settings import SettingsForm, TurnSettings
from videolisa.chat.videos import DEFAULT_MAX_MEMORY, CachedVideo, VideoStore
from videolisa.defaults import DEFAULT_MAX_TRACKS
from videolisa.errors import ConfigError, VideoError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.inference.pipeline import Answer, VideoLISAPipeline
from videolisa.inference.trackers import mask_mode
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.outputs import ResultWriter, folder_bytes, overlay_frame, redraw_overlay, zip_result
from videolisa.video import Video, VideoLimits

logger = logging.getLogger(__name__)


class ChatService:
    """Runs chat turns and API calls on one pipeline, with videos shared by all users."""

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
        ``max_memory_bytes``: all it keeps of the videos it was asked about (None: no limit;
        :class:`~videolisa.chat.videos.VideoStore`). ``video_notice`` may return a line to show
        with every answer about a video (e.g. that the model was not made for videos like it).
        ``tracker_checkpoints``: a checkpoint per registered tracker name where it is not the
        tracker's default. Conversations' folders, question limit and disk bounds:
        :class:`~videolisa.chat.conversations.ConversationStore`."""
        self.pipeline = pipeline
        self.video_notice = video_notice
        self.model_lock = ModelLock()
        self.videos = VideoStore(
            pipeline,
            self.model_lock,
            encode or EncodeSettings(),
            limits or VideoLimits(),
            max_memory_bytes,
            max_cached_videos,
        )
        self.conversations = ConversationStore(
            workdir_root, max_question_chars, max_disk_bytes, max_conversation_disk_bytes
        )
        self.refinement = Refinement(tracker_checkpoints)
        self.clicks = ClickCorrections(
            pipeline, self.model_lock, self.videos, self.conversations, self.refinement, max_tracks
        )
        self.form = SettingsForm(
            frames=self.videos.encode.frame_counts(pipeline.default_frames),
            context_length=pipeline.context_length,
            tokens_per_dense_frame=pipeline.tokens_per_dense_frame,
            max_tracks=max_tracks,
            trackers=self.refinement.choices,
        )

    def warm_up(self) -> None:
        """Run the model once on a tiny synthetic video (CLIP, SAM, the LLM, the mask decoder),
        so that the first user's turn is as fast as later ones."""
        frames = np.zeros((2, 32, 32, 3), dtype=np.uint8)
        frames[:, 8:24, 8:24] = 200
        with self.model_lock:
            encode = replace(self.videos.encode, num_sparse=2, num_dense=1)
            encoded = self.pipeline.encode(frames, encode)
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
        state = TurnState()
        turn = self._turn(conversation, question, settings, state)
        yield from guarded(self.conversations.in_use(conversation, turn), state)

    def segment(
        self, conversation: Conversation, video: str | Path, prompt: str, settings: TurnSettings
    ) -> Iterator[TurnEvent]:
        """One question about ``video`` outside the conversation's history (the API endpoint),
        streaming events as :meth:`run_turn` (notices included); result files go to the
        conversation's folder."""
        state = TurnState()

        def work() -> Generator[TurnEvent, None, None]:
            cached = yield from self._load(Path(video), settings, state)
            yield from self._video_notices(cached)
            session = self.conversations.session()
            counter = self._position_counter(cached, settings)
            prepared = session.prepare(prompt, counter, self.pipeline.context_length)
            for notice in prepared.notices:
                yield Notice(notice)
            answer = yield from self._answer(cached, session, prepared, settings, state)
            yield (yield from self._write(conversation, cached, answer, settings, state))

        yield from guarded(self.conversations.in_use(conversation, work()), state)

    # ------------------------------------------------------------------ kept results
    def redraw(self, done: TurnDone, shown: Collection[int], opacity: float) -> Path:
        """A new overlay of answer ``done`` with only the tracks ``shown``, from its kept
        masks (no model call)."""
        video = self.videos.video_of(done)
        return redraw_overlay(done.folder, video, done.num_tracks, shown, opacity)

    def frame_pair(
        self, done: TurnDone, frame: int, shown: Collection[int], opacity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``frame`` of answer ``done``'s video, and the same frame with the tracks
        ``shown``: two (H, W, 3) uint8 arrays (no model call).

        Raises:
            ConfigError: ``frame`` is not a frame of the video.
        """
        video = self.videos.video_of(done)
        if not 0 <= frame < video.num_frames:
            raise ConfigError(
                f"Frame {frame} is not in the video (frames 0 to {video.num_frames - 1}).",
                "Pick a frame in that range.",
            )
        overlay = overlay_frame(done.folder, video, done.num_tracks, frame, shown, opacity)
        return video.frames[frame], overlay

    # ------------------------------------------------------------------------ one turn
    def _turn(
        self,
        conversation: Conversation,
        question: str,
        settings: TurnSettings,
        state: TurnState,
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
        self, path: Path, settings: TurnSettings, state: TurnState
    ) -> Generator[TurnEvent, None, CachedVideo]:
        def decoded(video: Video) -> None:
            state.video = video

        cached = yield from self.videos.load(path, settings.encode, state.progress, decoded)
        state.video = cached.video
        return cached

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
        state: TurnState,
    ) -> Generator[TurnEvent, None, Answer]:
        """Answer the prepared question, streaming text; the turn joins ``session``'s history
        when the text is complete, or with the text so far when the turn is stopped."""
        yield state.progress("answer", 0, 1)
        steps = self.model_lock.steps(
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
        self.videos.keep(cached)  # the answer kept the LLM's keys and values of the video with it
        if answer.track_limit_hit:
            limit = settings.generation.max_tracks
            yield Notice(
                f"The answer asked for more than {limit} objects; it was cut after the first "
                f"{limit} (at most {limit} per answer)."
            )
        return answer

    def _write(
        self,
        conversation: Conversation,
        cached: CachedVideo,
        answer: Answer,
        settings: TurnSettings,
        state: TurnState,
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
            with self.model_lock:  # its features may take the room the budget leaves
                tracker, tracking, notice = self.refinement.tracker(
                    settings.refine, self.videos.room_beside(cached), self.pipeline.device
                )
            yield Notice(notice)
        masks = self.pipeline.masks(
            encoded, video.frames, answer.track_embeddings, tracker, tracking
        )
        folder = conversation.next_folder()
        start = time.perf_counter()
        try:
            with ResultWriter(folder, video, answer.num_tracks, settings.display.opacity) as writer:
                yield state.progress("masks", 0, video.num_frames)
                for chunk in self.model_lock.steps(masks):
                    writer.add(chunk.frames, chunk.masks)
                    self.videos.keep(cached)  # its trackers' features may have grown
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
        self.conversations.keep_disk_bounds(conversation)
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
            frame_width=video.width,
        )
