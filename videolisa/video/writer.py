"""Write frames as a browser-playable H.264 MP4 and masks as PNGs, never leaving partial files.

Each writer encodes into a hidden temporary file next to the target and renames it over the
target only once everything is written, so an interrupted write (an exception, Ctrl-C) leaves
either the old file or none, never a half-written one under the final name.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
import secrets
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from videolisa.errors import ConfigError, VideoError

log = logging.getLogger(__name__)

# libx264 quality (lower is better, 18 is visually lossless) and speed preset.
_X264_OPTIONS = {"crf": "20", "preset": "ultrafast"}  # overlays: speed over size
# Largest denominator for the frame rate fraction: keeps 30000/1001 (29.97) and 24000/1001.
_MAX_RATE_DENOMINATOR = 1001
# FFmpeg's AVCOL_* value for BT.709 primaries, transfer and matrix, and AVCOL_RANGE_MPEG.
_BT709 = 1
_LIMITED_RANGE = 1


def write_mp4(
    path: str | os.PathLike[str], frames: Iterable[np.ndarray] | np.ndarray, fps: float
) -> None:
    """Encode RGB frames to an H.264 MP4 at ``path`` that browsers can play while loading.

    Args:
        path: the .mp4 file to create or replace; its folder must exist.
        frames: (H,W,3) uint8 RGB frames, all the same size, as an iterable or one
            (T,H,W,3) uint8 array. Consumed once, one frame at a time, so a generator keeps
            memory flat. Every frame is written: the file has exactly T frames.
        fps: frames per second, > 0; non-integer rates such as 29.97 are kept exactly
            (as a fraction with denominator up to 1001).

    See :class:`Mp4Writer` for the file's format and the errors.
    """
    with Mp4Writer(path, fps) as writer:
        for frame in frames:
            writer.write(frame)


class Mp4Writer:
    """An H.264 MP4 written a frame at a time; the file appears under its name only once the
    ``with`` block ends without an error (an error or ``GeneratorExit`` leaves no file).

    The file is yuv420p, tagged BT.709 (sRGB primaries), with the ``moov`` index before the
    media data (``movflags=+faststart``). yuv420p needs even sizes, so an odd width or height
    is padded by repeating the last column or row: a 321×241 input is written as 322×242, and
    readers see the padded size (MP4 has no portable crop field to hide it).

    Raises:
        ConfigError: ``fps`` is not a finite number > 0.
        VideoError: the output folder does not exist.
        ValueError: no frames, or a frame that is not (H,W,3) uint8 or differs in size.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = Path(path)
        self.rate = _frame_rate(fps)
        self.count = 0
        self._replace = _replace_on_success(self.path)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._shape: tuple[int, ...] | None = None

    def __enter__(self) -> Mp4Writer:
        temporary = self._replace.__enter__()
        try:
            self._container = av.open(
                str(temporary), "w", format="mp4", options={"movflags": "+faststart"}
            )
        except BaseException as error:
            self._replace.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one (H,W,3) uint8 RGB frame."""
        frame = np.asarray(frame)
        if self._stream is None:
            self._shape = _check_first_frame(frame)
            self._stream = _add_stream(self._container, self.rate, self._shape)
        elif frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {self.count} is {frame.dtype} {frame.shape}; expected uint8 "
                f"{self._shape} like the first frame"
            )
        video_frame = av.VideoFrame.from_ndarray(_pad_to_even(frame), format="rgb24").reformat(
            format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG"
        )
        video_frame.pts = self.count
        video_frame.time_base = 1 / self.rate
        self._container.mux(self._stream.encode(video_frame))
        self.count += 1

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            if kind is None:
                if self.count == 0:
                    raise ValueError("write_mp4 needs at least one frame")
                self._container.mux(self._stream.encode(None))
            self._container.close()
        except BaseException as closing:
            with contextlib.suppress(Exception):
                self._container.close()
            self._replace.__exit__(type(closing), closing, closing.__traceback__)
            raise
        if kind is None:
            self._replace.__exit__(None, None, None)
            log.info("wrote %s: %d frames at %.3f fps", self.path, self.count, float(self.rate))
        else:
            self._replace.__exit__(kind, error, traceback)
        return False


def write_mask_png(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write an (H,W) bool mask as an 8-bit single-channel PNG: 255 inside, 0 outside.

    Raises:
        VideoError: the output folder does not exist.
        ValueError: ``mask`` is not a 2-D bool array.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise ValueError(f"mask must be an (H,W) bool array, got {mask.dtype} {mask.shape}")
    with _replace_on_success(Path(path)) as temporary:
        Image.fromarray(mask.astype(np.uint8) * 255).save(temporary, format="PNG")


def _add_stream(
    container: av.container.OutputContainer, rate: Fraction, shape: tuple[int, ...]
) -> av.video.stream.VideoStream:
    """A new libx264 stream of ``container`` for (H,W,3) frames, padded to even sizes."""
    stream = container.add_stream("libx264", rate=rate, options=_X264_OPTIONS)
    stream.pix_fmt = "yuv420p"
    context = stream.codec_context
    context.colorspace = context.color_primaries = context.color_trc = _BT709
    context.color_range = _LIMITED_RANGE
    stream.height, stream.width = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
    return stream


def _check_first_frame(frame: np.ndarray) -> tuple[int, ...]:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be (H,W,3) uint8 RGB, got {frame.dtype} {frame.shape}")
    return frame.shape


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Pad an (H,W,3) frame to even H and W by repeating its last row/column."""
    extra_rows, extra_columns = frame.shape[0] % 2, frame.shape[1] % 2
    if not (extra_rows or extra_columns):
        return np.ascontiguousarray(frame)
    return np.pad(frame, ((0, extra_rows), (0, extra_columns), (0, 0)), mode="edge")


def _frame_rate(fps: float) -> Fraction:
    """``fps`` as an exact fraction (29.97 -> 2997/100, 30000/1001 -> 30000/1001)."""
    valid = isinstance(fps, numbers.Real) and not isinstance(fps, bool) and math.isfinite(fps)
    rate = Fraction(float(fps)).limit_denominator(_MAX_RATE_DENOMINATOR) if valid else Fraction(0)
    if rate <= 0:
        raise ConfigError(
            f"fps must be a positive number, got {fps!r}.",
            "Give a frame rate such as 25 or 29.97 (at least 0.001).",
        )
    return rate


@contextlib.contextmanager
def _replace_on_success(final: Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``final``; move it onto ``final`` if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is deleted and ``final``
    is left as it was.
    """
    if not final.parent.is_dir():
        raise VideoError(
            f"Cannot write {final}: the folder {final.parent} does not exist.",
            "Create the folder or choose another output path.",
        )
    temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    try:
        yield temporary
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
