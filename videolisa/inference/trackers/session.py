"""Trackers built on transformers' video inference sessions: SAM 2, EdgeTAM and SAM 3's tracker.

``Sam2VideoModel``, ``EdgeTamVideoModel`` and ``Sam3TrackerVideoModel`` share one session API
(``processor.init_video_session``, ``add_inputs_to_inference_session`` with masks,
``model.propagate_in_video_iterator``), so one class drives all three. Every track is one object,
its keyframe masks are the session's mask inputs, and the session is propagated backwards from
the first keyframe and then forwards to the end; keyframes keep the masks they were given.

Memory stays bounded on long videos: frames are preprocessed when the model asks for one (the
session holds the uint8 frames), outputs of frames farther back than the model's memory reaches
are dropped, masks come out a chunk of frames at a time, and image features are kept only within
the :class:`~videolisa.inference.trackers.features.FeatureStore`'s budget.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from videolisa.inference.trackers.base import TrackedChunk
from videolisa.inference.trackers.features import FeatureStore

CHUNK_FRAMES = 8  # frames of masks per step


class LazyFrames(Mapping[int, torch.Tensor]):
    """A video's frames as a session reads them, preprocessed one at a time on demand from
    (T, H, W, 3) uint8 ``frames`` (never the whole video as float tensors)."""

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


class SessionTracker:
    """A transformers video model with its processor, carrying keyframe masks over a video."""

    def __init__(self, model: Any, processor: Any, name: str, checkpoint: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.checkpoint = checkpoint
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype

    @torch.inference_mode()
    def propagate(
        self,
        frames: np.ndarray,
        keyframe_masks: Mapping[int, np.ndarray],
        features: FeatureStore | None = None,
        chunk_frames: int = CHUNK_FRAMES,
    ) -> Iterator[TrackedChunk]:
        """Masks of every track on every frame, in frame order, ``chunk_frames`` at a time.

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            keyframe_masks: frame index -> (K, H, W) bool masks of the K tracks on that frame.
            features: this video's image features (kept across questions), or None.
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
            yield TrackedChunk(slice(start, stop), earlier[start:stop].transpose(1, 0, 2, 3))
        del earlier

        pending: list[np.ndarray] = []
        start = first
        for output in self.model.propagate_in_video_iterator(session, first):
            index = output.frame_idx
            masks = keyframe_masks.get(index)
            pending.append(masks if masks is not None else self._masks(output, height, width))
            self._forget_old_outputs(session, index, reverse=False)
            if len(pending) == chunk_frames or index == num_frames - 1:
                yield TrackedChunk(slice(start, index + 1), np.stack(pending, axis=1))
                start, pending = index + 1, []

    def _masks(self, output: Any, height: int, width: int) -> np.ndarray:
        """(K, H, W) bool masks of one frame's output at the video's size."""
        masks = self.processor.post_process_masks(
            [output.pred_masks], original_sizes=[[height, width]], binarize=True
        )[0]
        return masks[:, 0].cpu().numpy().astype(bool)

    def _forget_old_outputs(self, session: Any, frame_idx: int | None, reverse: bool) -> None:
        """Drop tracked (non-keyframe) outputs farther behind ``frame_idx`` than the model's
        memory reaches (all of them for None), so a long video's session does not grow."""
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
