"""Correcting an answer's tracks by pointing: clicks and boxes on frames become the track's
masks there, and those masks are carried over the whole video, by a tracker when the server has
one, else by the model's own SAM (:func:`~videolisa.inference.visual_prompts.carried_masks`).
Neither the LLM nor an image encoder runs: the frames' SAM embeddings are the encoded video's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from videolisa.inference.encoded_video import EncodedVideo
from videolisa.inference.trackers import Tracker, TrackingSettings
from videolisa.inference.visual_prompts import Box, Click, FramePrompt, carried_masks, prompted_mask
from videolisa.modeling.videolisa import VideoLISAModel


@dataclass(frozen=True)
class Correction:
    """What a person pointed at for track ``track`` (a new one: the next index)."""

    track: int
    prompt: FramePrompt

    def to_json(self) -> dict[str, Any]:
        """As result.json records it: clicks as [x, y, 1 or 0], the box as [x0, y0, x1, y1]."""
        box = self.prompt.box
        return {
            "track": self.track,
            "frame": self.prompt.frame,
            "clicks": [[c.x, c.y, int(c.positive)] for c in self.prompt.clicks],
            "box": [box.x0, box.y0, box.x1, box.y1] if box else None,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Correction:
        clicks = tuple(Click(float(x), float(y), bool(label)) for x, y, label in raw["clicks"])
        box = Box(*map(float, raw["box"])) if raw.get("box") else None
        return cls(int(raw["track"]), FramePrompt(int(raw["frame"]), clicks, box))


def track_keyframes(
    model: VideoLISAModel,
    encoded: EncodedVideo,
    corrections: Sequence[Correction],
    track: int,
    before: Callable[[int], np.ndarray | None],
) -> dict[int, np.ndarray]:
    """Frame -> (H, W) bool mask of ``track`` on each frame it was corrected on: the track's
    corrections applied in order, each on top of that frame's mask so far (starting from
    ``before(frame)``, the track's mask before any correction, or empty for a new track)."""
    keyframes: dict[int, np.ndarray] = {}
    for correction in corrections:
        if correction.track != track:
            continue
        frame = correction.prompt.frame
        base = keyframes.get(frame)
        if base is None:
            base = before(frame)
        keyframes[frame] = prompted_mask(model, encoded, correction.prompt, base)
    return keyframes


def corrected_masks(
    model: VideoLISAModel,
    encoded: EncodedVideo,
    frames: np.ndarray,
    keyframes: Mapping[int, np.ndarray],
    tracker: Tracker | None = None,
    tracking: TrackingSettings | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, (H, W) bool mask) of the corrected track on every frame of (T, H, W, 3) uint8
    ``frames``, in order; the keyframes keep their masks. With ``tracker`` (and its
    ``tracking`` settings) it carries them; without, the model's SAM does."""
    if tracker is None or tracking is None:
        yield from carried_masks(model, encoded, keyframes)
        return
    features = encoded.tracker_features.store(tracker.checkpoint, tracking.feature_budget_bytes)
    inputs = {frame: mask[None] for frame, mask in keyframes.items()}
    for chunk in tracker.propagate(frames, inputs, features):
        for offset, mask in enumerate(chunk.masks[0]):
            yield chunk.frames.start + offset, mask
