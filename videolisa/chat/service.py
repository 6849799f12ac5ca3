"""One chat turn end to end, for the app and its API: video in, text deltas and result files out.

UI-free: the app turns the events of :meth:`ChatService.run_turn` into chat messages, the service
knows nothing of Gradio. It owns the pipeline and the video cache shared by every conversation
(so a follow-up question, or the same video sent through the API, is not encoded again) and
serialises model calls with a lock.

service = ChatService(pipeline, VideoLimits(max_frames=600))
conversation = service.open_conversation()
conversation.attach("cat.mp4")
for event in service.run_turn(conversation, "Where is the cat?", TurnSettings()):
    ...  # Notice, TextDelta, Progress, then TurnDone or TurnFailed
conversation.close()
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from videolisa.chat.session import ChatSession, PreparedTurn
from videolisa.chat.template import Message
from videolisa.cli import is_out_of_memory
from videolisa.errors import ConfigError, UserInputError, VideoError
from videolisa.inference.encoded_video import EncodedVideo
from videolisa.inference.generation import GenerationSettings
from videolisa.inference.pipeline import Answer, VideoLISAPipeline
from videolisa.inference.video_cache import VideoCache, content_key
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.outputs import SegmentationResult, write_result
from videolisa.video import Video, VideoLimits, read_video

logger = logging.getLogger(__name__)

OUT_OF_MEMORY_MESSAGE = (
    "Out of memory while running the model. Use fewer frames (Settings: frames sparse / dense) "
    "or a shorter or smaller video, then ask again. (If you run the app: start it with "
    "--load-4bit or a smaller --max-frames.)"
)
INTERNAL_ERROR_MESSAGE = (
    "Something went wrong while answering (the details are in the server log). "
    "Ask again, or attach the video again."
)
MASKS_ZIP = "masks.zip"


@dataclass(frozen=True)
class TurnSettings:
    """How to answer one question (the app's Settings accordion)."""

    num_sparse: int = 32  # frames the LLM sees
    num_dense: int = 4  # of those, kept at full detail
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    always_mask: bool = False  # answer FORCED_ANSWER (the published evaluation mode)
    opacity: float = 0.5  # of the mask fill in the overlay video

    def __post_init__(self) -> None:
        if not 1 <= self.num_dense <= self.num_sparse:
            raise ConfigError(
                f"Need 1 <= dense frames <= sparse frames, got {self.num_dense} dense and "
                f"{self.num_sparse} sparse.",
                "Lower the dense frames or raise the sparse frames.",
            )
        if not 0 <= self.opacity <= 1:
            raise ConfigError(f"Opacity must be in [0, 1], got {self.opacity}.", "Use e.g. 0.5.")

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature)


# --------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Notice:
    """A line to show the user before the answer (history trimmed, question cut, new video)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """More answer text (``<TRK>`` marks a track)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps of ``stage``: "decode", "encode", "masks" or "render"."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class TurnDone:
    """The finished answer; with tracks, the overlay video and a zip of the mask PNGs."""

    answer: str
    num_tracks: int
    overlay: Path | None = None
    masks_zip: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnFailed:
    """The turn ended without an answer; ``message`` is for the user. History is unchanged."""

    message: str


TurnEvent = Notice | TextDelta | Progress | TurnDone | TurnFailed


# --------------------------------------------------------------------------- conversation
@dataclass
class Conversation:
    """One user's state: the chat session, the current video and a folder for result files."""

    workdir: Path
    session: ChatSession = field(default_factory=ChatSession)
    video: Path | None = None
    turns: int = 0

    def attach(self, path: str | Path) -> bool:
        """Make ``path`` the current video; True if it is another video (history cleared)."""
        self.video = Path(path).resolve()
        return self.session.set_video(str(self.video))

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


# -------------------------------------------------------------------------------- service
class ChatService:
    """Runs chat turns and API calls on one pipeline, with a video cache shared by all users."""

    def __init__(
        self,
        pipeline: VideoLISAPipeline,
        limits: VideoLimits | None = None,
        cache: VideoCache[CachedVideo] | None = None,
        workdir_root: str | Path | None = None,
        sam_batch: int = 8,
        sam_memory_budget_bytes: int | None = 512 * 2**20,
    ) -> None:
        self.pipeline = pipeline
        self.sam_batch = sam_batch  # frames per SAM encoder call
        self.sam_memory_budget_bytes = sam_memory_budget_bytes  # SAM embeddings kept per video
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

        Ends with :class:`TurnDone` (the turn is added to the history) or :class:`TurnFailed`
        (a readable message; the history is unchanged). Never raises for a user's mistake, a
        bad file or running out of memory.
        """
        yield from _guarded(lambda emit: self._turn(conversation, question, settings, emit))

    def segment(
        self, conversation: Conversation, video: str | Path, prompt: str, settings: TurnSettings
    ) -> TurnDone | TurnFailed:
        """One question about ``video`` outside the conversation's history (the API endpoint);
        result files go to the conversation's folder."""

        def work(emit: Callable[[TurnEvent], None]) -> TurnDone:
            cached = self._load(Path(video), settings, emit)
            _, answer = self._answer(cached, ChatSession(), prompt, settings, emit)
            return self._write(conversation, cached, answer, settings, emit)

        outcome = [e for e in _guarded(work) if isinstance(e, TurnDone | TurnFailed)]
        return outcome[-1]

    # ------------------------------------------------------------------------ one turn
    def _turn(
        self,
        conversation: Conversation,
        question: str,
        settings: TurnSettings,
        emit: Callable[[TurnEvent], None],
    ) -> TurnDone:
        if conversation.video is None:
            raise VideoError("No video yet.", "Attach a video or an image to your message.")
        cached = self._load(conversation.video, settings, emit)
        prepared, answer = self._answer(cached, conversation.session, question, settings, emit)
        done = self._write(conversation, cached, answer, settings, emit)
        conversation.session.record_turn(prepared, answer.text)
        return done

    def _load(
        self, path: Path, settings: TurnSettings, emit: Callable[[TurnEvent], None]
    ) -> CachedVideo:
        """The decoded and encoded video, from the cache when it was seen with these settings."""
        key = content_key(
            path, settings.num_sparse, settings.num_dense, extra=self.pipeline.description
        )

        def create() -> CachedVideo:
            emit(Progress("decode", 0, 1))
            video = read_video(path, self.limits)

            def on_progress(_stage: str, done: int, total: int) -> None:
                emit(Progress("encode", done, total))

            with self._model_lock:
                encoded = self.pipeline.encode(
                    video.frames,
                    settings.num_sparse,
                    settings.num_dense,
                    sam_batch=self.sam_batch,
                    progress=on_progress,
                    sam_memory_budget_bytes=self.sam_memory_budget_bytes,
                )
            # the content key, not the file name: names of uploads can be private too
            logger.info("encoded %s (%d frames): %s", key[:12], video.num_frames, encoded.seconds)
            return CachedVideo(video, encoded)

        return self.cache.get_or_create(key, create)

    def _answer(
        self,
        cached: CachedVideo,
        session: ChatSession,
        question: str,
        settings: TurnSettings,
        emit: Callable[[TurnEvent], None],
    ) -> tuple[PreparedTurn, Answer]:
        """Fit the question and history into the context, then answer, streaming text."""
        pipeline, encoded = self.pipeline, cached.encoded
        forced = FORCED_ANSWER if settings.always_mask else None
        reserve = 0 if forced else settings.max_new_tokens

        def count_positions(messages: list[Message]) -> int:
            if forced:
                ids = pipeline.prompt_ids([*messages, Message("assistant", forced)], False)
            else:
                ids = pipeline.prompt_ids(messages, add_generation_prompt=True)
            return pipeline.sequence_length(ids, encoded) + reserve

        prepared = session.prepare(question, count_positions, pipeline.context_length)
        for notice in prepared.notices:
            emit(Notice(notice))
        with self._model_lock:
            answer = pipeline.answer(
                encoded,
                prepared.history,
                prepared.question,
                forced_answer=forced,
                settings=settings.generation,
                on_text=lambda delta: emit(TextDelta(delta)),
            )
        if forced:
            emit(TextDelta(answer.text))
        return prepared, answer

    def _write(
        self,
        conversation: Conversation,
        cached: CachedVideo,
        answer: Answer,
        settings: TurnSettings,
        emit: Callable[[TurnEvent], None],
    ) -> TurnDone:
        """Decode every track's masks; write the overlay and the masks zip to a new folder of
        ``conversation``."""
        if answer.num_tracks == 0:
            return TurnDone(answer.text, 0)
        seconds: dict[str, float] = {}
        start = time.perf_counter()

        def on_progress(_stage: str, done: int, total: int) -> None:
            emit(Progress("masks", done, total))

        with self._model_lock:
            masks = self.pipeline.track_masks(
                cached.encoded, answer.track_embeddings, progress=on_progress
            )
        seconds["mask_decode"] = time.perf_counter() - start
        emit(Progress("render", 0, 1))
        result = SegmentationResult(answer.text, masks, cached.encoded.sampling, seconds)
        folder = conversation.next_folder()
        try:
            summary = write_result(folder, cached.video, result, settings.opacity)
            masks_zip = zip_result(folder)
        except BaseException:  # no half-written result stays behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        emit(Progress("render", 1, 1))
        return TurnDone(
            answer.text,
            answer.num_tracks,
            overlay=folder / "overlay.mp4",
            masks_zip=masks_zip,
            seconds=summary["seconds"],
        )


def zip_result(folder: Path) -> Path:
    """``folder/masks.zip`` holding ``masks/<track>/<frame>.png`` and ``result.json`` (the
    layout of ``segment --out``)."""
    target = folder / MASKS_ZIP
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for png in sorted((folder / "masks").rglob("*.png")):
            archive.write(png, png.relative_to(folder).as_posix())
        archive.write(folder / "result.json", "result.json")
    return target


def _guarded(work: Callable[[Callable[[TurnEvent], None]], TurnDone]) -> Iterator[TurnEvent]:
    """Run ``work`` in a thread and yield the events it emits, then its TurnDone; any error
    becomes a :class:`TurnFailed` with a message for the user."""
    try:
        yield from _in_thread(work)
    except UserInputError as error:
        yield TurnFailed(str(error))
    except Exception as error:
        if is_out_of_memory(error):
            logger.warning("out of memory: %s", error)
            yield TurnFailed(OUT_OF_MEMORY_MESSAGE)
        else:
            logger.exception("chat turn failed")
            yield TurnFailed(INTERNAL_ERROR_MESSAGE)


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _in_thread(work: Callable[[Callable[[TurnEvent], None]], TurnDone]) -> Iterator[TurnEvent]:
    """Events of ``work`` as it emits them; it runs in a thread so that the text streamed
    from inside a model call reaches the caller while the call goes on."""
    events: queue.Queue[TurnEvent | _Raised] = queue.Queue()

    def target() -> None:
        try:
            events.put(work(events.put))
        except BaseException as error:  # handed to the caller's thread
            events.put(_Raised(error))

    threading.Thread(target=target, name="videolisa-turn", daemon=True).start()
    while True:
        event = events.get()
        if isinstance(event, _Raised):
            raise event.error
        yield event
        if isinstance(event, TurnDone):
            return
