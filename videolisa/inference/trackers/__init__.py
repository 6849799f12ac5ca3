"""Trackers that carry keyframe masks over a whole video: SAM 2, EdgeTAM and SAM 3's tracker.

VideoLISA's post-optimisation (``--refine NAME``) and its long-video mode (``--propagate NAME``)
hand a tracker the One-Token-Seg-All masks of a few keyframes. A tracker is one module defining
a :class:`TrackerEntry` plus one entry in :data:`~videolisa.inference.trackers.registry.TRACKERS`.

    settings = TrackingSettings(mode="refine", tracker="sam3", checkpoint="path/to/sam3")
    tracker = load_tracker(settings.entry, settings.checkpoint, pipeline.device)
    for chunk in pipeline.masks(encoded, frames, answer.track_embeddings, tracker, settings):
        ...  # (K, t, H, W) bool masks of frames chunk.frames
"""

from videolisa.inference.trackers.base import TrackedChunk, Tracker, TrackerEntry
from videolisa.inference.trackers.features import FeatureStore, TrackerFeatures
from videolisa.inference.trackers.registry import (
    REGISTRY,
    TRACKERS,
    TrackerCache,
    entry_for,
    get_entry,
    load_tracker,
    tracker_names,
)
from videolisa.inference.trackers.settings import (
    MODES,
    ONE_TOKEN_SEG_ALL,
    TrackingSettings,
    mask_mode,
)

__all__ = [
    "MODES",
    "ONE_TOKEN_SEG_ALL",
    "REGISTRY",
    "TRACKERS",
    "FeatureStore",
    "TrackedChunk",
    "Tracker",
    "TrackerCache",
    "TrackerEntry",
    "TrackerFeatures",
    "TrackingSettings",
    "entry_for",
    "get_entry",
    "load_tracker",
    "mask_mode",
    "tracker_names",
]
