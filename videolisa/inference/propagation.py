"""Masks carried over a whole video with SAM 2: VideoLISA's post-optimisation, done the way its
successors do it.

The published post-optimisation (showlab/VideoLISA ``xmem2_example/``) copies the
One-Token-Seg-All masks of the dense frames out as reference annotations and has XMem++ propagate
them to every frame. Here SAM 2's video model from transformers (``Sam2VideoModel``, or
``EdgeTamVideoModel``, with ``Sam2VideoProcessor``) does it in one inference session: every
track is one object, its keyframe masks are the session's mask inputs, and the session is
propagated backwards from the first keyframe and then forwards to the end. Keyframes keep the
masks they were given.

Memory stays bounded on long videos: frames are preprocessed when the model asks for one (the
session holds the uint8 frames), outputs of frames farther back than SAM 2's memory reaches are
dropped, masks come out a chunk of frames at a time, and the SAM 2 image features of a video are
kept (for follow-up questions) only within a budget.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videolisa.defaults import DEFAULT_REFINE_MODEL
from videolisa.errors import ConfigError, UserInputError

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("refine", "propagate")
CHUNK_FRAMES = 8  # frames of masks per step


@dataclass(frozen=True)
class PropagationSettings:
    """How masks are carried over time.

    ``mode``: "refine" (One-Token-Seg-All encodes every frame; SAM 2 redoes the frames between
    the keyframes) or "propagate" (SAM's encoder runs on the keyframes only, SAM 2 does every
    other frame). ``keyframes``: "dense" (the dense frames, as published) or a number k (the k
    frames whose One-Token-Seg-All masks have the highest predicted IoU; refine only).
    """

    mode: str = "refine"
    model: str = DEFAULT_REFINE_MODEL
    keyframes: str | int = "dense"
    feature_budget_bytes: int | None = 512 * 2**20  # SAM 2 image features kept per video

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"Unknown mode {self.mode!r}.", f"Use one of: {', '.join(MODES)}.")
        if self.keyframes != "dense" and not (
            isinstance(self.keyframes, int) and self.keyframes >= 1
        ):
            raise ConfigError(
                f"Keyframes must be 'dense' or a number of frames, got {self.keyframes!r}.",
                "Use dense, or e.g. 4 for the 4 frames with the best predicted masks.",
            )
        if self.mode == "propagate" and self.keyframes != "dense":
            raise ConfigError(
                "Propagation encodes only the dense frames with SAM, so its keyframes are them.",
                "Use --refine sam2 to choose keyframes by predicted IoU.",
            )


@dataclass(frozen=True)
class PropagatedChunk:
    """Masks of every track on the frames ``frames``: (K, t, H, W) bool."""

    frames: slice
    masks: np.ndarray


class FeatureStore:
    """SAM 2 image features of one video's frames, kept within a byte budget.

    Plays the part of the inference session's feature cache: features of the most recent frame
    are always kept (every object of a frame uses them), others while they fit the budget, so a
    follow-up question on the video reuses them instead of running SAM 2's image encoder again.
    """

    def __init__(self, budget_bytes: int | None) -> None:
        self.budget_bytes = budget_bytes
        self.nbytes = 0
        self._kept: dict[int, dict[str, Any]] = {}
        self._recent: tuple[int, dict[str, Any]] | None = None

    def get_vision_features(self, frame_idx: int) -> dict[str, Any] | None:
        if self._recent is not None and self._recent[0] == frame_idx:
            return self._recent[1]
        return self._kept.get(frame_idx)

    def cache_vision_features(self, frame_idx: int, features: dict[str, Any]) -> None:
        self._recent = (frame_idx, features)
        size = _nbytes(features)
        if frame_idx not in self._kept and (
            self.budget_bytes is None or self.nbytes + size <= self.budget_bytes
        ):
            self._kept[frame_idx] = features
            self.nbytes += size

    def clear_all(self) -> None:
        """Sessions clear their cache when reset; the features stay valid for the video."""

    @property
    def kept_frames(self) -> int:
        return len(self._kept)


class LazyFrames(Mapping[int, torch.Tensor]):
    """A video's frames as the SAM 2 session reads them, preprocessed one at a time on demand
    from (T, H, W, 3) uint8 ``frames`` (never the whole video as float tensors)."""

    def __init__(self, frames: np.ndarray, processor: Any, dtype: torch.dtype) -> None:
        self.frames = frames
        self.processor = processor
        self.dtype = dtype

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self.frames):
            raise KeyError(index)
        video = self.processor.video_processor(
            videos=self.frames[index : index + 1], return_tensors="pt"
        )
        return video.pixel_values_videos[0][0].to(self.dtype)

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.frames)))


class Sam2Propagator:
    """A SAM 2 video model (or EdgeTAM) with its processor, carrying keyframe masks over a
    video (:meth:`propagate`)."""

    def __init__(self, model: Any, processor: Any, name: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype

    @classmethod
    def from_pretrained(
        cls,
        name: str | Path,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> Sam2Propagator:
        """Load a SAM 2 / EdgeTAM video checkpoint: a hub id (downloaded once) or a folder, in
        ``dtype`` (default float32 on a CPU, bfloat16 on an accelerator).

        Raises:
            UserInputError: the checkpoint is not on this machine and cannot be downloaded (one
                line naming it and what to do), or is not a SAM 2 video checkpoint.
        """
        from transformers import AutoConfig, EdgeTamVideoModel, Sam2VideoModel, Sam2VideoProcessor

        if dtype is None:
            dtype = torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16
        try:
            config = AutoConfig.from_pretrained(str(name))
            model_class = EdgeTamVideoModel if "edgetam" in config.model_type else Sam2VideoModel
            model = model_class.from_pretrained(str(name), dtype=dtype)
            processor = Sam2VideoProcessor.from_pretrained(str(name))
        except OSError as error:
            raise UserInputError(
                f"The SAM 2 checkpoint {name} is not on this machine and cannot be downloaded "
                f"here ({type(error).__name__}).",
                f"Download it where the hub is reachable (huggingface-cli download {name}) and "
                "pass its folder with --refine-model DIR, or leave out --refine/--propagate.",
            ) from error
        except (ValueError, KeyError) as error:
            raise UserInputError(
                f"{name} is not a SAM 2 video checkpoint ({error}).",
                f"Pass a SAM 2 or EdgeTAM checkpoint, e.g. {DEFAULT_REFINE_MODEL}.",
            ) from error
        return cls(model.to(device), processor, str(name))

    def new_feature_store(self, budget_bytes: int | None) -> FeatureStore:
        return FeatureStore(budget_bytes)

    @torch.inference_mode()
    def propagate(
        self,
        frames: np.ndarray,
        keyframe_masks: Mapping[int, np.ndarray],
        features: FeatureStore | None = None,
        chunk_frames: int = CHUNK_FRAMES,
    ) -> Iterator[PropagatedChunk]:
        """Masks of every track on every frame, in frame order, ``chunk_frames`` at a time.

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            keyframe_masks: frame index -> (K, H, W) bool masks of the K tracks on that frame.
            features: this video's SAM 2 image features (kept across questions), or None.
            chunk_frames: frames per yielded chunk.
        """
        num_frames, height, width = frames.shape[:3]
        keyframes = sorted(keyframe_masks)
        if not keyframes:
            raise ValueError("propagation needs at least one keyframe")
        num_tracks = len(keyframe_masks[keyframes[0]])
        if num_tracks == 0:
            return
        session = self.processor.init_video_session(inference_device=self.device, dtype=self.dtype)
        # The session reads frames through processed_frames; ours preprocesses on demand.
        session.processed_frames = LazyFrames(frames, self.processor, self.dtype)
        session.video_height, session.video_width = height, width
        session.cache = features or FeatureStore(0)
        for frame in keyframes:
            masks = keyframe_masks[frame]
            # a new id list each time: the session keeps it and empties it as it goes
            obj_ids = list(range(1, num_tracks + 1))
            self.processor.add_inputs_to_inference_session(
                session, frame_idx=frame, obj_ids=obj_ids, input_masks=list(masks)
            )
            self.model(inference_session=session, frame_idx=frame)

        first = keyframes[0]
        earlier = np.zeros((first, num_tracks, height, width), dtype=bool) if first else None
        for output in self.model.propagate_in_video_iterator(session, first, reverse=True):
            if output.frame_idx < first:
                earlier[output.frame_idx] = self._masks(output, height, width)
            self._forget_old_outputs(session, output.frame_idx, reverse=True)
        self._forget_old_outputs(session, None, reverse=True)  # forwards starts afresh
        for start in range(0, first, chunk_frames):
            stop = min(start + chunk_frames, first)
            yield PropagatedChunk(slice(start, stop), earlier[start:stop].transpose(1, 0, 2, 3))
        del earlier

        pending: list[np.ndarray] = []
        start = first
        for output in self.model.propagate_in_video_iterator(session, first):
            index = output.frame_idx
            masks = keyframe_masks.get(index)
            pending.append(masks if masks is not None else self._masks(output, height, width))
            self._forget_old_outputs(session, index, reverse=False)
            if len(pending) == chunk_frames or index == num_frames - 1:
                yield PropagatedChunk(slice(start, index + 1), np.stack(pending, axis=1))
                start, pending = index + 1, []

    def _masks(self, output: Any, height: int, width: int) -> np.ndarray:
        """(K, H, W) bool masks of one frame's output at the video's size."""
        masks = self.processor.post_process_masks(
            [output.pred_masks], original_sizes=[[height, width]], binarize=True
        )[0]
        return masks[:, 0].cpu().numpy().astype(bool)

    def _forget_old_outputs(self, session: Any, frame_idx: int | None, reverse: bool) -> None:
        """Drop tracked (non-keyframe) outputs farther behind ``frame_idx`` than SAM 2's memory
        reaches (all of them for None), so a long video's session does not grow."""
        config = self.model.config
        reach = max(config.num_maskmem, config.max_object_pointers_in_encoder)
        for outputs in session.output_dict_per_obj.values():
            tracked = outputs["non_cond_frame_outputs"]
            for index in list(tracked):
                if (
                    frame_idx is None
                    or (index - frame_idx if reverse else frame_idx - index) > reach
                ):
                    del tracked[index]


def _nbytes(features: Mapping[str, Any]) -> int:
    total = 0
    for value in features.values():
        tensors = value if isinstance(value, list | tuple) else [value]
        total += sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    return total
