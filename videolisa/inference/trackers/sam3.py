"""SAM 3's tracker: ``Sam3TrackerVideoModel`` with ``Sam3TrackerVideoProcessor`` (the same
session API as SAM 2's). ``facebook/sam3`` is gated on the hub."""

from videolisa.inference.trackers.base import TrackerEntry
from videolisa.inference.trackers.hub import session_loader

ENTRY = TrackerEntry(
    name="sam3",
    title="SAM 3",
    default_checkpoint="facebook/sam3",
    # a tracker checkpoint, or the whole SAM 3 (its tracker part is loaded)
    model_types=("sam3_tracker_video", "sam3_video", "sam3"),
    load=session_loader("Sam3TrackerVideoModel", "Sam3TrackerVideoProcessor"),
    access="it is gated: accept its licence at https://huggingface.co/facebook/sam3 and log in "
    "(huggingface-cli login)",
)
