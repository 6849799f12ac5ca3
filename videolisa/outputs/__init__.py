"""Segmentation results: per-track mask PNGs, the overlay video and result.json, written as the
masks arrive (:class:`ResultWriter`), drawn again (tracks hidden) and corrected (clicks).

Layout (``segment --out DIR``, and the app's masks zip)::

    DIR/masks/<track>/<frame:05d>.png   0/255, the frame's original size, track 0 first
    DIR/overlay.mp4                      the input with every track in its own colour
                                         (overlay.png for a single image)
    DIR/result.json                      answer, counts, frame indices, seconds per stage
"""

from videolisa.outputs.drawing import overlay_frame, overlay_frames, read_masks, redraw_overlay
from videolisa.outputs.folders import (
    MASKS_ZIP,
    check_output_folder,
    folder_bytes,
    write_failure,
    zip_result,
)
from videolisa.outputs.writer import ResultWriter

__all__ = [
    "MASKS_ZIP",
    "ResultWriter",
    "check_output_folder",
    "folder_bytes",
    "overlay_frame",
    "overlay_frames",
    "read_masks",
    "redraw_overlay",
    "write_failure",
    "zip_result",
]
