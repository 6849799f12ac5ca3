"""Video input and output: read videos, images and frame folders; write MP4s and mask PNGs.

Also draws coloured mask overlays (:func:`render_overlay`).
"""

from videolisa.video.overlay import TRACK_COLORS, contour_color, render_overlay, track_color
from videolisa.video.reader import (
    DEFAULT_FPS,
    Video,
    VideoLimits,
    read_frame_files,
    read_video,
)
from videolisa.video.writer import Mp4Writer, write_mask_png, write_mp4

__all__ = [
    "DEFAULT_FPS",
    "TRACK_COLORS",
    "Mp4Writer",
    "Video",
    "VideoLimits",
    "contour_color",
    "read_frame_files",
    "read_video",
    "render_overlay",
    "track_color",
    "write_mask_png",
    "write_mp4",
]
