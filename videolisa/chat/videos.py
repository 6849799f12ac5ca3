"""The videos a server was asked about: decoded and encoded once, kept within one memory budget
and shared by every conversation and the API (the same upload under another name too)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path

from videolisa.chat.events import Progress, TurnDone
from videolisa.chat.model_lock import ModelLock
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.video_cache import VideoCache, content_key
from videolisa.video import Video, VideoLimits, read_video

logger = logging.getLogger(__name__)

DEFAULT_MAX_MEMORY = 512 * 2**20  # what the cache keeps for all videos together
ProgressMaker = Callable[[str, int, int], Progress]  # (stage, done, total) -> an event


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


class VideoStore:
    """Decoded and encoded videos within ``max_memory_bytes`` (frames, SAM embeddings, the LLM's
    keys and values of the video, trackers' features; None: no limit), at most
    ``max_entries`` of them, least recently used dropped first. ``encode`` holds the server's
    SAM options and default frame counts."""

    def __init__(
        self,
        pipeline: VideoLISAPipeline,
        lock: ModelLock,
        encode: EncodeSettings,
        limits: VideoLimits,
        max_memory_bytes: int | None = DEFAULT_MAX_MEMORY,
        max_entries: int = 8,
    ) -> None:
        self.pipeline = pipeline
        self.lock = lock
        self.encode = replace(encode, sam_memory_budget_bytes=max_memory_bytes)
        self.limits = limits
        self.max_memory_bytes = max_memory_bytes
        self.cache: VideoCache[CachedVideo] = VideoCache(
            max_entries=max_entries,
            max_bytes=max_memory_bytes if max_memory_bytes is not None else 1 << 62,
        )

    def load(
        self,
        path: Path,
        settings: EncodeSettings,
        progress: ProgressMaker,
        decoded: Callable[[Video], None],
    ) -> Generator[Progress, None, CachedVideo]:
        """The decoded and encoded video, from the cache when it was seen with these frame
        counts (``settings``'; left out, the server's), yielding progress; ``decoded`` is told
        the video as soon as it is read (to say what ran out of memory, should encoding)."""
        frames = settings.frame_counts(self.encode.frame_counts(self.pipeline.default_frames))
        encode = replace(self.encode, num_sparse=frames[0], num_dense=frames[1])
        key = content_key(path, *frames, extra=self.pipeline.description)
        cached = self.cache.get(key)
        if cached is not None and cached.video is None:  # only the encoding was kept
            yield progress("decode", 0, 1)
            cached = replace(cached, video=read_video(path, self.limits))
        if cached is not None:
            return cached
        yield progress("decode", 0, 1)
        video = read_video(path, self.limits)
        decoded(video)
        steps = self.lock.steps(self.pipeline.encode_steps(video.frames, encode))
        encoded = None
        while encoded is None:
            try:
                step = next(steps)
            except StopIteration as stop:
                encoded = stop.value
            else:
                if step.stage == "sam_encode":
                    yield progress("encode", step.done, step.total)
        # the content key, not the file name: names of uploads can be private too
        logger.info("encoded %s (%d frames): %s", key[:12], video.num_frames, encoded.seconds)
        cached = CachedVideo(key, path, video, encoded)
        self.keep(cached)
        return cached

    def keep(self, cached: CachedVideo) -> None:
        """Keep ``cached`` (measured again: answers and trackers add to an encoding) within the
        budget; where it is too large with its frames, its encoding alone (the frames are read
        again from the file, which costs no model time)."""
        kept = self.cache.put(cached.key, cached)
        if not kept and cached.video is not None:
            kept = self.cache.put(cached.key, replace(cached, video=None))
        if not kept:
            logger.debug("%s is not kept: its encoding alone exceeds --max-memory", cached.key[:12])

    def room_beside(self, cached: CachedVideo) -> int | None:
        """Bytes the budget leaves beside ``cached`` (for a tracker's features); None: all."""
        if self.max_memory_bytes is None:
            return None
        return max(0, self.max_memory_bytes - cached.nbytes)

    def video_of(self, done: TurnDone) -> Video:
        """The decoded video of an answer: from the cache, else read again."""
        cached = self.cache.get(done.video_key) if done.video_key else None
        if cached is not None and cached.video is not None:
            return cached.video
        return read_video(done.video, self.limits)
