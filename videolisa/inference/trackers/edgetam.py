"""EdgeTAM, SAM 2 for devices (a spatial perceiver in its memory): ``EdgeTamVideoModel``, read by
SAM 2's video processor."""

from videolisa.inference.trackers.base import TrackerEntry
from videolisa.inference.trackers.hub import session_loader

ENTRY = TrackerEntry(
    name="edgetam",
    title="EdgeTAM",
    default_checkpoint="facebook/EdgeTAM",
    model_types=("edgetam_video",),
    load=session_loader("EdgeTamVideoModel", "Sam2VideoProcessor"),
)
