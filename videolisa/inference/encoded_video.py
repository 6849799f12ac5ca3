"""A video encoded once: sampled frames, CLIP video tokens and SAM embeddings of every frame.

Every later question on the same video reuses this state and costs only the LLM on its own text
(the LLM's keys and values of the prompt up to the video are kept after the first answer) and
the mask decoder (SAM 2's ``init_state`` idea). The SAM embeddings live in a
:class:`~videolisa.inference.sam_store.SamEmbeddingStore`, which keeps all of them while they
fit in a memory budget and recomputes the rest chunk by chunk beyond it.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch

from videolisa.errors import ConfigError
from videolisa.inference.generation import VideoPrefix
from videolisa.inference.preprocess import FramePreprocessor
from videolisa.inference.sam_store import FrameEncoder, SamEmbeddingStore, SamMemoryPlan
from videolisa.inference.steps import StepProgress
from videolisa.inference.trackers.features import TrackerFeatures
from videolisa.modeling.device import synchronize
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.sampling import FrameSampling

__all__ = ["EncodeSettings", "EncodedVideo", "encode_video_steps", "sam_frame_encoder"]


@dataclass(frozen=True)
class EncodeSettings:
    """How a video is encoded; resolved once from the command line or the app's settings.

    ``num_sparse`` / ``num_dense`` left as None are the model's own counts
    (:attr:`VideoLISAPipeline.default_frames`). ``sam_batch`` and ``sam_memory_budget_bytes``
    change the masks at most by floating-point rounding.
    """

    num_sparse: int | None = None  # frames the LLM sees
    num_dense: int | None = None  # of those, kept at full detail
    sam_batch: int = 8  # frames per SAM encoder call
    sam_memory_budget_bytes: int | None = None  # SAM embeddings kept per video; None: all
    sam_keyframes_only: bool = False  # SAM encodes the dense frames only (--propagate)

    def __post_init__(self) -> None:
        for name in ("num_sparse", "num_dense", "sam_batch", "sam_memory_budget_bytes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}.")
        if self.num_sparse and self.num_dense and self.num_dense > self.num_sparse:
            raise ConfigError(
                f"Need dense frames <= sparse frames, got {self.num_dense} dense and "
                f"{self.num_sparse} sparse.",
                "Lower the dense frames or raise the sparse frames.",
            )

    def frame_counts(self, default: tuple[int, int]) -> tuple[int, int]:
        """(sparse, dense) with the model's ``default`` counts where these are None."""
        return self.num_sparse or default[0], self.num_dense or default[1]


@dataclass
class EncodedVideo:
    """Everything the model needs of a video, computed once."""

    sampling: FrameSampling
    video_tokens: torch.Tensor  # (S + D * L, H) Sparse-Dense tokens for the LLM
    llm_prefix: VideoPrefix  # the LLM's keys and values up to the video, kept after one answer
    sam: SamEmbeddingStore  # SAM image embeddings of sam_frames (kept or recomputed)
    resized_hw: tuple[int, int]  # frame size inside SAM's padded input
    original_hw: tuple[int, int]  # (H, W) of the frames
    num_frames: int  # T, the video's frames
    sam_frames: tuple[int, ...] | None = None  # the frame of each SAM embedding; None: all
    # seconds per stage: clip_preprocess, clip_encode, sam_resize, sam_encode (without resizes)
    seconds: dict[str, float] = field(default_factory=dict)
    # trackers' image features of the frames, kept for follow-up questions (inference.trackers)
    tracker_features: TrackerFeatures = field(default_factory=TrackerFeatures)

    def sam_index(self, frame: int) -> int:
        """Index in :attr:`sam` of video frame ``frame``."""
        if self.sam_frames is None:
            return frame
        if frame not in self.sam_frames:
            raise ValueError(f"frame {frame} has no SAM embedding (keyframes {self.sam_frames})")
        return self.sam_frames.index(frame)

    @property
    def sam_embeddings(self) -> torch.Tensor:
        """(T, C, e, e) SAM embeddings of every frame (computed now for frames beyond the
        memory budget; prefer :meth:`SamEmbeddingStore.chunks` for long videos)."""
        return self.sam.get(slice(None))

    @property
    def nbytes(self) -> int:
        """Memory held by the tensors, the LLM prefix and trackers' features included (for
        cache accounting)."""
        tokens = self.video_tokens.numel() * self.video_tokens.element_size()
        return tokens + self.llm_prefix.nbytes + self.sam.nbytes + self.tracker_features.nbytes


def sam_frame_encoder(
    model: VideoLISAModel,
    preprocessor: FramePreprocessor,
    seconds: dict[str, float] | None = None,
) -> FrameEncoder:
    """A function encoding (n, H, W, 3) uint8 frames into (n, C, e, e) SAM embeddings; the
    time spent resizing frames is added to ``seconds["sam_resize"]``.

    On a GPU the resized frames go over in page-locked memory without waiting, so the CPU
    resizes the next chunk while the GPU encodes this one; normalising happens on the device.
    """
    pinned = model.device.type == "cuda"

    @torch.inference_mode()
    def encode(frames: np.ndarray) -> torch.Tensor:
        start = time.perf_counter()
        resized = preprocessor.sam_resized(frames, pin_memory=pinned)
        if seconds is not None:
            seconds["sam_resize"] = seconds.get("sam_resize", 0.0) + time.perf_counter() - start
        # copied as the one (n, h, w, 3) buffer it is, then viewed channels-first again
        channels_last = resized.permute(0, 2, 3, 1)
        on_device = channels_last.to(model.device, non_blocking=pinned).permute(0, 3, 1, 2)
        images = model.sam.preprocess(on_device.to(torch.float32))
        return model.sam_image_embeddings(images)

    return encode


def sam_frame_nbytes(model: VideoLISAModel) -> int:
    """Bytes of one frame's SAM embedding (C × e × e in the SAM encoder's dtype)."""
    arch = model.config.sam
    dtype = model.sam.image_encoder.patch_embed.proj.weight.dtype
    element = torch.empty((), dtype=dtype).element_size()
    return arch.prompt_embed_dim * arch.embedding_side**2 * element


@torch.inference_mode()  # torch enters it around every step of a generator
def encode_video_steps(
    model: VideoLISAModel,
    preprocessor: FramePreprocessor,
    frames: np.ndarray,
    sampling: FrameSampling,
    settings: EncodeSettings,
) -> Generator[StepProgress, None, EncodedVideo]:
    """Encode (T, H, W, 3) uint8 RGB frames: CLIP on the sparse frames, SAM on all of them (the
    dense frames only with ``settings.sam_keyframes_only``) in batches of ``settings.sam_batch``
    frames, keeping as many SAM embeddings as ``settings.sam_memory_budget_bytes`` allows (all
    of them without a budget).

    Yields progress after CLIP and after each SAM batch; returns the encoded video (see
    :mod:`videolisa.inference.steps`)."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    pixels = preprocessor.clip_pixels(frames, sampling.sparse)
    seconds["clip_preprocess"] = time.perf_counter() - start
    start = time.perf_counter()
    features = model.clip_patch_features(pixels.to(model.device))
    video_tokens = model.video_tokens(features, sampling.dense)
    synchronize(model.device)
    seconds["clip_encode"] = time.perf_counter() - start
    yield StepProgress("clip_encode", 1, 1)

    start = time.perf_counter()
    sam_frames = tuple(sorted(set(sampling.dense_frames))) if settings.sam_keyframes_only else None
    encoded_frames = frames[list(sam_frames)] if sam_frames is not None else frames
    plan = SamMemoryPlan.for_video(
        len(encoded_frames),
        sam_frame_nbytes(model),
        settings.sam_batch,
        settings.sam_memory_budget_bytes,
    )
    store = yield from SamEmbeddingStore.build_steps(
        encoded_frames, plan, sam_frame_encoder(model, preprocessor, seconds)
    )
    synchronize(model.device)
    seconds["sam_encode"] = time.perf_counter() - start - seconds.get("sam_resize", 0.0)
    height, width = int(frames.shape[1]), int(frames.shape[2])
    return EncodedVideo(
        sampling=sampling,
        video_tokens=video_tokens,
        llm_prefix=VideoPrefix(video_tokens),
        sam=store,
        resized_hw=preprocessor.resized_hw(height, width),
        original_hw=(height, width),
        num_frames=len(frames),
        sam_frames=sam_frames,
        seconds=dict(seconds),  # later recomputations (beyond the budget) do not count
    )
