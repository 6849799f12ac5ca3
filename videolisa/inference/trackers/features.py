"""A tracker's image features of one video, kept within a byte budget and counted.

A tracker's inference session asks for the image features of each frame it visits; keeping them
with the encoded video lets a follow-up question on the same video skip the tracker's image
encoder. They count toward the memory of the video cache (:attr:`TrackerFeatures.nbytes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FeatureStore:
    """One tracker's image features of one video's frames, kept within ``budget_bytes``.

    Plays the part of a transformers video session's feature cache (``get_vision_features``,
    ``cache_vision_features``, ``clear_all``): the features of the most recent frame are always
    at hand (every object of a frame uses them), others are kept while they fit the budget.
    """

    def __init__(self, budget_bytes: int | None) -> None:
        self.budget_bytes = budget_bytes
        self.nbytes = 0  # bytes of the kept features (the most recent frame's not counted)
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


class TrackerFeatures:
    """The feature stores of one video, one per tracker checkpoint, and their bytes."""

    def __init__(self) -> None:
        self._stores: dict[str, FeatureStore] = {}

    def store(self, checkpoint: str, budget_bytes: int | None) -> FeatureStore:
        """The store of ``checkpoint``'s features (made now, with ``budget_bytes``, if new)."""
        if checkpoint not in self._stores:
            self._stores[checkpoint] = FeatureStore(budget_bytes)
        return self._stores[checkpoint]

    def get(self, checkpoint: str) -> FeatureStore | None:
        return self._stores.get(checkpoint)

    @property
    def nbytes(self) -> int:
        return sum(store.nbytes for store in self._stores.values())


def _nbytes(features: Mapping[str, Any]) -> int:
    import torch

    total = 0
    for value in features.values():
        tensors = value if isinstance(value, list | tuple) else [value]
        total += sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    return total
