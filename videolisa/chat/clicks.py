"""Correcting an answer by pointing, for the chat and its API: a click or a box on a frame adds
to, takes from or starts a track, carried over the whole video (a tracker when the turn asks for
one, else the model's SAM), and the answer's overlay, legend, result.json and zip follow. The
LLM never runs again and the video is not encoded again: its encoding must still be kept.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Generator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from videolisa.chat.conversation import Conversation
from videolisa.chat.conversations import ConversationStore
from videolisa.chat.events import Notice, TrackSummary, TurnDone, TurnEvent
from videolisa.chat.messages import TurnState, guarded
from videolisa.chat.model_lock import ModelLock
from videolisa.chat.refinement import Refinement
from videolisa.chat.videos import CachedVideo, VideoStore
from videolisa.errors import ConfigError, UserInputError
from videolisa.inference.corrections import Correction
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.trackers import Tracker, TrackingSettings
from videolisa.inference.visual_prompts import FramePrompt
from videolisa.outputs import MASKS_ZIP, ResultWriter
from videolisa.outputs.corrections import (
    finish_corrections,
    replace_track,
    restore_track,
    track_mask,
    write_staged,
)
from videolisa.video import read_video

logger = logging.getLogger(__name__)

OFFLINE = (
    "carried to the other frames by the model's own SAM, clicking again on each frame at the "
    "middle of the last mask; for full tracking choose a tracker under Settings → Refine over "
    "time"
)


class ClickCorrections:
    """Clicks and boxes on the answers of one service's conversations."""

    def __init__(
        self,
        pipeline: VideoLISAPipeline,
        lock: ModelLock,
        videos: VideoStore,
        conversations: ConversationStore,
        refinement: Refinement,
        max_tracks: int,
    ) -> None:
        self.pipeline = pipeline
        self.lock = lock
        self.videos = videos
        self.conversations = conversations
        self.refinement = refinement
        self.max_tracks = max_tracks

    def click(
        self,
        conversation: Conversation,
        done: TurnDone | None,
        prompt: FramePrompt,
        track: int | None,
        refine: str | None = None,
        opacity: float = 0.5,
    ) -> Iterator[TurnEvent]:
        """Add ``prompt`` to track ``track`` of answer ``done`` (None: start a new track), or,
        with no answer, make a track of the conversation's video from it alone; stream
        progress, end with the updated :class:`TurnDone` (or a readable failure). ``refine``
        names a tracker to carry the correction (None: the model's SAM)."""
        state = TurnState()

        def work() -> Generator[TurnEvent, None, None]:
            result = done
            if result is None or result.folder is None:
                result = yield from self._blank(conversation, state)
            cached = self._encoded(result)
            video = cached.video
            prompt.check(video.num_frames, video.height, video.width)
            summary = json.loads((result.folder / "result.json").read_text())
            num_tracks = int(summary["num_tracks"])
            if track is None and num_tracks >= self.max_tracks:
                raise ConfigError(
                    f"This answer has {num_tracks} tracks already, the most one answer may have "
                    f"(--max-tracks {self.max_tracks}).",
                    "Correct one of its tracks instead of starting a new one.",
                )
            if track is not None and not 0 <= track < num_tracks:
                raise ConfigError(
                    f"Track {track} does not exist (this answer has tracks 0 to {num_tracks - 1})."
                    if num_tracks
                    else "This answer has no track yet.",
                    "Pick one of its tracks, or start a new object.",
                )
            target = num_tracks if track is None else track
            corrections = [Correction.from_json(c) for c in summary.get("corrections", [])]
            corrections.append(Correction(target, prompt))
            tracks = max(num_tracks, target + 1)
            yield (
                yield from self._apply(
                    result, cached, corrections, target, tracks, refine, opacity, state
                )
            )

        yield from guarded(self.conversations.in_use(conversation, work()), state)

    def undo(
        self,
        conversation: Conversation,
        done: TurnDone,
        refine: str | None = None,
        opacity: float = 0.5,
    ) -> Iterator[TurnEvent]:
        """Take back the last click or box of answer ``done``: its track is made again from
        the rest (as it was before its first correction when none is left)."""
        state = TurnState()

        def work() -> Generator[TurnEvent, None, None]:
            summary = json.loads((done.folder / "result.json").read_text())
            corrections = [Correction.from_json(c) for c in summary.get("corrections", [])]
            if not corrections:
                raise ConfigError("There is no click to undo.", "Click on a frame first.")
            cached = self._encoded(done)
            last = corrections.pop()
            tracks = int(summary["num_tracks"])
            if any(c.track == last.track for c in corrections):
                yield (
                    yield from self._apply(
                        done, cached, corrections, last.track, tracks, refine, opacity, state
                    )
                )
                return
            if not restore_track(done.folder, last.track):  # a track the clicks had made
                tracks -= 1
            yield self._finish(done, cached, corrections, tracks, opacity)

        yield from guarded(self.conversations.in_use(conversation, work()), state)

    # ---------------------------------------------------------------------------------
    def _encoded(self, done: TurnDone) -> CachedVideo:
        """The answer's video with its encoding (frames read again where only it is kept).

        Raises:
            UserInputError: the encoding is no longer kept (so clicking would encode again).
        """
        cached = self.videos.cache.get(done.video_key) if done.video_key else None
        if cached is None:
            raise UserInputError(
                "This answer's video is no longer kept encoded on the server (it keeps what "
                "fits in its --max-memory), so its frames cannot be clicked on any more.",
                "Ask about the video again, then click on that answer.",
            )
        if cached.video is None:
            cached = replace(cached, video=read_video(done.video, self.videos.limits))
        return cached

    def _blank(
        self, conversation: Conversation, state: TurnState
    ) -> Generator[TurnEvent, None, TurnDone]:
        """An answer without tracks about the conversation's video, to click on (no LLM)."""
        path = conversation.pending or conversation.video
        if path is None:
            raise ConfigError("No video yet.", "Attach a video to click on.")
        cached = yield from self.videos.load(path, EncodeSettings(), state.progress, lambda _: None)
        conversation.video, conversation.pending = path, None
        folder = conversation.next_folder()
        video = cached.video
        with ResultWriter(folder, video, 0) as writer:
            writer.finish("", cached.encoded.sampling, {})
        return TurnDone("", 0, video.num_frames, path, cached.key, folder, frame_width=video.width)

    def _apply(
        self,
        done: TurnDone,
        cached: CachedVideo,
        corrections: list[Correction],
        track: int,
        num_tracks: int,
        refine: str | None,
        opacity: float,
        state: TurnState,
    ) -> Generator[TurnEvent, None, TurnDone]:
        """Make ``track`` again from its ``corrections``, carried over the video, a frame at a
        time (written beside the result until every frame is done)."""
        video, encoded, folder = cached.video, cached.encoded, done.folder
        tracker = tracking = None
        notice = f"Track {track}: {OFFLINE}."
        if refine is not None:
            with self.lock:
                tracker, tracking, notice = self.refinement.tracker(
                    refine, self.videos.room_beside(cached), self.pipeline.device
                )
        steps = rewrite_track(
            self.pipeline, encoded, video.frames, folder, corrections, track, tracker, tracking
        )
        for written in self.lock.steps(steps):
            if written % 8 == 0 or written == video.num_frames:
                yield state.progress("masks", written, video.num_frames)
        if tracker is not None:
            self.videos.keep(cached)  # the tracker's features may have grown
        yield Notice(notice)
        return self._finish(done, cached, corrections, num_tracks, opacity)

    @staticmethod
    def _finish(
        done: TurnDone,
        cached: CachedVideo,
        corrections: list[Correction],
        num_tracks: int,
        opacity: float,
    ) -> TurnDone:
        """The answer with its overlay, legend and zip brought up to date."""
        recorded = [c.to_json() for c in corrections]
        summary = finish_corrections(done.folder, cached.video, num_tracks, recorded, opacity)
        return replace(
            done,
            num_tracks=num_tracks,
            overlay=done.folder / summary["overlay"],
            masks_zip=done.folder / MASKS_ZIP,
            tracks=tuple(
                TrackSummary(t["track"], t["frames"], t["mean_area"], tuple(t["corrected_on"]))
                for t in summary["tracks"]
            ),
        )


def rewrite_track(
    pipeline: VideoLISAPipeline,
    encoded: EncodedVideo,
    frames: np.ndarray,
    folder: Path,
    corrections: Sequence[Correction],
    track: int,
    tracker: Tracker | None = None,
    tracking: TrackingSettings | None = None,
) -> Generator[int, None, None]:
    """Make ``track`` of the result in ``folder`` again from its ``corrections``, carried over
    the (T, H, W, 3) uint8 ``frames`` (by ``tracker`` if given), one bounded step at a time:
    yields how many frames are written. The new masks are written beside the result and take
    the track's place only when every frame is done."""
    prompts = [c.prompt for c in corrections if c.track == track]
    masks = pipeline.pointed_masks(
        encoded, frames, prompts, lambda f: track_mask(folder, track, f, True), tracker, tracking
    )
    staged = folder / f".track-{track}"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        for written, _frame in enumerate(write_staged(staged, masks), 1):
            yield written
        replace_track(folder, track, staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
