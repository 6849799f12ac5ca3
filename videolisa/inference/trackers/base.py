"""What a tracker is: a model that carries keyframe masks over a whole video.

VideoLISA's post-optimisation (the published code used XMem2) and the long-video mode both hand a
tracker the One-Token-Seg-All masks of a few keyframes and take back a mask of every track on every
frame. A tracker is anything with :meth:`Tracker.propagate`; a :class:`TrackerEntry` in the
registry (``trackers/registry.py``) says how to load one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the registry imports no torch, so that --help stays instant
    import numpy as np
    import torch

    from videolisa.inference.trackers.features import FeatureStore


@dataclass(frozen=True)
class TrackedChunk:
    """Masks of every track on the frames ``frames``: (K, t, H, W) bool."""

    frames: slice
    masks: np.ndarray  # (K, t, H, W) bool


class Tracker(Protocol):
    """A loaded tracker: ``name`` is its registry name, ``checkpoint`` what it was loaded from."""

    name: str
    checkpoint: str

    def propagate(
        self,
        frames: np.ndarray,
        keyframe_masks: Mapping[int, np.ndarray],
        features: FeatureStore | None = None,
    ) -> Iterator[TrackedChunk]:
        """Masks of every track on every frame of (T, H, W, 3) uint8 ``frames``, in frame order,
        a chunk of frames at a time; ``keyframe_masks`` maps a frame to its (K, H, W) bool masks,
        which the output keeps. ``features`` holds the tracker's image features of this video
        across calls (a follow-up question then skips its image encoder)."""
        ...


TrackerLoader = Callable[[str, str, "torch.device", "torch.dtype"], Tracker]
"""(registry name, checkpoint, device, dtype) -> a loaded tracker."""


@dataclass(frozen=True)
class TrackerEntry:
    """How to load one kind of tracker.

    ``model_types`` are the ``model_type`` values of the checkpoints' ``config.json`` this entry
    loads, so ``--refine-model DIR`` finds the entry of any registered kind. ``access`` is added
    to the message when the default checkpoint cannot be fetched (e.g. a gated licence)."""

    name: str  # --refine NAME / --propagate NAME
    title: str  # what the app calls it
    default_checkpoint: str
    model_types: tuple[str, ...]
    load: TrackerLoader
    access: str = ""
