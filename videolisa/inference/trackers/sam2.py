"""SAM 2 (and SAM 2.1) video models: ``Sam2VideoModel`` with ``Sam2VideoProcessor``."""

from videolisa.defaults import DEFAULT_REFINE_MODEL
from videolisa.inference.trackers.base import TrackerEntry
from videolisa.inference.trackers.hub import session_loader

ENTRY = TrackerEntry(
    name="sam2",
    title="SAM 2",
    default_checkpoint=DEFAULT_REFINE_MODEL,  # sam2.1-hiera-tiny; also -small, -base-plus, -large
    model_types=("sam2_video",),
    load=session_loader("Sam2VideoModel", "Sam2VideoProcessor"),
)
