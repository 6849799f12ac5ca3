"""SAM image embeddings of every frame of a video, held within a memory budget.

While the embeddings of all frames fit in the budget they are all kept, so later questions on
the video cost only the mask decoder. Beyond it, the embeddings of the first frames are kept
and the other frames stay uint8; their embeddings are recomputed chunk by chunk whenever masks
are decoded and dropped after each chunk, so a long video runs in bounded memory.

Chunks follow the same ``sam_batch`` grid as an unbudgeted encode, so every frame's embedding
is computed in the same batch either way and the masks do not change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from videolisa.errors import ConfigError
from videolisa.inference.steps import StepProgress

logger = logging.getLogger(__name__)

FrameEncoder = Callable[[np.ndarray], torch.Tensor]  # (n, H, W, 3) uint8 -> (n, C, e, e)


@dataclass(frozen=True)
class SamMemoryPlan:
    """How many frames' embeddings are kept and how many are computed at a time."""

    num_frames: int
    kept_frames: int  # the first ``kept_frames`` frames' embeddings stay in memory
    chunk_frames: int  # frames encoded per SAM call (the kept ones as well)
    frame_nbytes: int  # bytes of one frame's embedding

    @classmethod
    def for_video(
        cls, num_frames: int, frame_nbytes: int, sam_batch: int, budget_bytes: int | None
    ) -> SamMemoryPlan:
        """Keep every frame when ``budget_bytes`` is None or holds all of them plus one chunk
        being computed; otherwise keep whole chunks while kept + one live chunk fit.

        A budget below one chunk shrinks the chunk (down to one frame, the least possible)."""
        if sam_batch < 1:
            raise ConfigError(f"sam_batch must be at least 1, got {sam_batch}.")
        if budget_bytes is not None and budget_bytes < 1:
            raise ConfigError(
                f"The SAM memory budget must be positive, got {budget_bytes} bytes.",
                "Pass a size such as 2GB, or no budget to keep every frame.",
            )
        chunk = min(sam_batch, num_frames)
        if budget_bytes is None or (num_frames + chunk) * frame_nbytes <= budget_bytes:
            return cls(num_frames, num_frames, chunk, frame_nbytes)
        fitting = budget_bytes // frame_nbytes
        if fitting < 2 * chunk:  # not even one kept chunk beside the live one
            chunk = max(1, min(chunk, fitting // 2 if fitting >= 2 else 1))
            if fitting < 1:
                logger.warning(
                    "SAM memory budget %d bytes is below one frame's embedding (%d bytes); "
                    "using one frame at a time",
                    budget_bytes,
                    frame_nbytes,
                )
        kept = max(0, (fitting - chunk) // chunk * chunk)
        return cls(num_frames, min(kept, num_frames), chunk, frame_nbytes)

    @property
    def streams(self) -> bool:
        """True when some frames' embeddings are recomputed on demand."""
        return self.kept_frames < self.num_frames


class SamEmbeddingStore:
    """Embeddings of T frames: the first ones kept, the rest recomputed from uint8 frames.

    ``peak_nbytes`` is the most embedding memory the store has held at once (kept plus the
    live recomputed chunk), the store's own account independent of the allocator.
    """

    def __init__(
        self,
        kept: torch.Tensor,
        streamed_frames: np.ndarray,
        plan: SamMemoryPlan,
        encode: FrameEncoder,
    ) -> None:
        """``kept`` (K, C, e, e) embeddings of the first K frames; ``streamed_frames``
        (T - K, H, W, 3) uint8, the frames whose embeddings are recomputed by ``encode``."""
        self.kept = kept
        self.streamed_frames = streamed_frames
        self.plan = plan
        self._encode = encode
        self.peak_nbytes = self.nbytes

    @classmethod
    def build_steps(
        cls, frames: np.ndarray, plan: SamMemoryPlan, encode: FrameEncoder
    ) -> Generator[StepProgress, None, SamEmbeddingStore]:
        """Encode the frames the plan keeps, ``plan.chunk_frames`` at a time, into one
        preallocated tensor, yielding progress after each chunk; (T, H, W, 3) uint8
        ``frames``. Returns the store (see :mod:`videolisa.inference.steps`)."""
        kept: torch.Tensor | None = None
        peak = 0
        for begin in range(0, plan.kept_frames, plan.chunk_frames):
            end = min(begin + plan.chunk_frames, plan.kept_frames)
            chunk = encode(frames[begin:end])
            if kept is None:
                kept = chunk.new_empty((plan.kept_frames, *chunk.shape[1:]))
            kept[begin:end] = chunk
            peak = max(peak, _nbytes(kept) + _nbytes(chunk))
            del chunk
            yield StepProgress("sam_encode", end, plan.kept_frames)
        if kept is None:  # nothing kept: an empty tensor with the embedding's shape and dtype
            probe = encode(frames[:1])
            kept = probe.new_empty((0, *probe.shape[1:]))
            del probe
        store = cls(kept, frames[plan.kept_frames :], plan, encode)
        store.peak_nbytes = max(store.peak_nbytes, peak)
        return store

    @property
    def num_frames(self) -> int:
        return self.plan.num_frames

    @property
    def nbytes(self) -> int:
        """Bytes of the kept embeddings (the uint8 frames belong to the caller's video)."""
        return _nbytes(self.kept)

    def chunks(self, frames: slice = slice(None)) -> Iterator[tuple[slice, torch.Tensor]]:
        """(window, (n, C, e, e) embeddings) for the frames in ``frames`` (step 1): one view
        of the kept ones, then freshly computed chunks that the caller should drop before
        asking for the next."""
        start, stop, step = frames.indices(self.num_frames)
        if step != 1:
            raise ValueError(f"frame windows must be contiguous, got step {step}")
        size = self.plan.chunk_frames
        begin = start
        if begin < min(stop, self.plan.kept_frames):
            end = min(stop, self.plan.kept_frames)
            yield slice(begin, end), self.kept[begin:end]
            begin = end
        while begin < stop:
            end = min((begin // size + 1) * size, stop)  # stay on the encode grid
            yield slice(begin, end), self._computed(begin, end)
            begin = end

    def get(self, frames: slice) -> torch.Tensor:
        """(n, C, e, e) embeddings of the contiguous frames ``frames``."""
        parts = [embeddings for _, embeddings in self.chunks(frames)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _computed(self, begin: int, end: int) -> torch.Tensor:
        """Embeddings of frames [begin, end) beyond the kept ones; the grid chunk holding them
        is encoded whole so the numbers match an unbudgeted encode."""
        size, kept = self.plan.chunk_frames, self.plan.kept_frames
        grid_begin = begin // size * size
        grid_end = min(grid_begin + size, self.num_frames)
        chunk = self._encode(self.streamed_frames[grid_begin - kept : grid_end - kept])
        self.peak_nbytes = max(self.peak_nbytes, self.nbytes + _nbytes(chunk))
        return chunk[begin - grid_begin : end - grid_begin]


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
