"""Read a video file, an image, or a folder of frame images into upright RGB frames.

Three kinds of input, told apart by content, not by file name:

* a file Pillow identifies as PNG, JPEG, BMP, WebP or TIFF: one frame, or every frame of an
  animated PNG/WebP or multi-page TIFF (FFmpeg cannot decode animated WebP);
* any other file: opened with PyAV (FFmpeg), first video stream decoded (mp4, mov, webm, mkv,
  avi, gif, ...);
* a folder: every ``.jpg``/``.png``/... file in it, in natural name order (``2.png`` before
  ``10.png``), as in the ``JPEGImages/<video>/00000.jpg`` layout of video-object-segmentation
  benchmarks.

Whatever the user can get wrong becomes a one-line :class:`~videolisa.errors.VideoError`.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from videolisa.errors import ConfigError, VideoError

log = logging.getLogger(__name__)

# Frame rate given to single images, frame folders and animations without frame durations.
DEFAULT_FPS = 10.0
# File name endings of frame images collected from a folder (compared lower-case).
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Pillow formats decoded by Pillow; everything else (GIF included) goes to PyAV.
_PILLOW_FORMATS = frozenset({"PNG", "JPEG", "MPO", "BMP", "WEBP", "TIFF"})
# Pillow modes holding more than 8 bits per sample, scaled down by `_scale_to_uint8`.
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# A measured or declared frame rate above this is treated as broken metadata.
_MAX_PLAUSIBLE_FPS = 1000.0

_CHECK_PLAYS = "Check that the file plays in a video player, then re-export or re-download it."
_CHECK_OPENS = "Check that it opens in an image viewer, then re-export or re-download it."


@dataclass(frozen=True)
class VideoLimits:
    """Caps that :func:`read_video` enforces before decoding (or, when the container does not
    say, while decoding)."""

    max_frames: int = 2000
    max_side: int = 4096  # pixels, the longer side of a frame
    max_file_bytes: int = 2 * 1024**3
    # frames × height × width; the default caps the decoded (T,H,W,3) uint8 array at 2 GiB.
    max_pixels: int = 2 * 1024**3 // 3

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{field.name} must be a whole number of at least 1, got {value!r}.",
                    f"Set {field.name} to a positive integer (default {field.default}).",
                )


DEFAULT_LIMITS = VideoLimits()


@dataclass(frozen=True, eq=False)
class Video:
    """Decoded frames of one input, upright and in RGB.

    Attributes:
        frames: (T,H,W,3) uint8 RGB, C-contiguous, T >= 1, rotation metadata already applied.
        fps: frame rate for writing an overlay of these frames: the mean rate of the timestamps
            (``(T-1) / (timestamps[-1] - timestamps[0])``, which is exact for constant-rate
            video and keeps the duration of variable-rate video); else the container's average
            rate; else :data:`DEFAULT_FPS` (single images, frame folders).
        timestamps: (T,) float64 seconds of each frame since the first one (``timestamps[0]``
            is 0.0): presentation times for videos and animations, ``i / fps`` for folders.
        source: the path the frames came from, as given.
    """

    frames: np.ndarray
    fps: float
    timestamps: np.ndarray
    source: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def read_video(path: str | os.PathLike[str], limits: VideoLimits = DEFAULT_LIMITS) -> Video:
    """Decode a video file, an image file or a folder of frame images.

    Frames come out as (T,H,W,3) uint8 RGB. Rotation metadata of phone videos and EXIF
    orientation of photos are applied, so frames are upright as a player shows them. Frames
    that change size mid-stream are scaled to the first frame's size. If decoding fails
    part-way (a truncated download), the frames decoded so far are kept and a warning is logged.

    Raises:
        VideoError: the path is missing, empty, unreadable, has no video frames, or exceeds
            ``limits`` (file size and resolution are checked before decoding, the frame count
            and the total pixels as soon as they are known).
    """
    source = Path(path)
    if not source.exists():
        raise VideoError(f"{source} does not exist.", "Check the path and the current folder.")
    if source.is_dir():
        return _read_folder(source, limits)
    if not source.is_file():
        raise VideoError(
            f"{source} is not a regular file.", "Give a video file, an image or a frame folder."
        )
    size = source.stat().st_size
    if size == 0:
        raise VideoError(f"{source} is empty (0 bytes).", _CHECK_PLAYS)
    _check_file_bytes(source, size, limits)
    image = _open_with_pillow(source)
    if image is None:
        return _read_with_pyav(source, limits)
    with image:
        return _read_image_frames(image, source, limits)


def _read_with_pyav(path: Path, limits: VideoLimits) -> Video:
    """Decode the first video stream of ``path`` with PyAV."""
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(
            f"Cannot read {path}: it is not a video or image, or it is damaged ({_reason(error)}).",
            _CHECK_PLAYS,
        ) from error
    with container:
        if not container.streams.video:
            if container.streams.audio:
                raise VideoError(
                    f"{path} has no video stream, only audio.", "Give a file with a video track."
                )
            raise VideoError(
                f"{path} has no video stream; the file may be truncated or damaged.", _CHECK_PLAYS
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared = stream.frames
        if declared > limits.max_frames:
            raise _too_many_frames(path, f"{declared} frames", limits)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width and height:
            _check_side(path, width, height, limits)
            _check_pixels(path, declared, width, height, limits)
        frames: list[np.ndarray] = []
        times: list[float | None] = []
        size: tuple[int, int] | None = None
        # One reformatter for the whole stream: VideoFrame.to_ndarray(format=...) builds a new
        # colour converter for every frame, about 100 times slower (6 ms at 320x240).
        reformatter = VideoReformatter()
        try:
            for frame in container.decode(stream):
                if len(frames) == limits.max_frames:
                    raise _too_many_frames(path, f"more than {limits.max_frames} frames", limits)
                if size is None:
                    _check_side(path, frame.width, frame.height, limits)
                    size = (frame.width, frame.height)
                _check_pixels(path, len(frames) + 1, *size, limits)
                # Frames that change size mid-stream are scaled to the first one's size.
                rgb = reformatter.reformat(
                    frame, format="rgb24", width=size[0], height=size[1]
                ).to_ndarray()
                frames.append(_upright(rgb, frame.rotation))
                times.append(frame.time)
        except (av.error.FFmpegError, OSError) as error:
            if not frames:
                raise VideoError(
                    f"Cannot decode any frame of {path}: the file is damaged or truncated "
                    f"({_reason(error)}).",
                    _CHECK_PLAYS,
                ) from error
            log.warning(
                "%s: decoding stopped after %d frames (%s); using the frames decoded so far.",
                path,
                len(frames),
                _reason(error),
            )
        else:
            if 0 < len(frames) < declared:
                log.warning(
                    "%s: decoded %d of the %d frames the file declares; it may be truncated.",
                    path,
                    len(frames),
                    declared,
                )
        declared_fps = float(stream.average_rate) if stream.average_rate else None
    if not frames:
        raise VideoError(f"{path} contains no video frames.", _CHECK_PLAYS)
    if any(time is None for time in times):
        fps = _plausible_fps(declared_fps) or DEFAULT_FPS
        return _video(frames, np.arange(len(frames)) / fps, fps, path)
    timestamps = np.asarray(times, dtype=np.float64)
    return _video(frames, timestamps, _estimate_fps(timestamps, declared_fps), path)


def _read_image_frames(image: Image.Image, path: Path, limits: VideoLimits) -> Video:
    """Decode every frame of a Pillow image (one for still images; the first of an MPO)."""
    _check_side(path, image.width, image.height, limits)
    count = 1 if image.format == "MPO" else getattr(image, "n_frames", 1)
    if count > limits.max_frames:
        raise _too_many_frames(path, f"{count} frames", limits)
    _check_pixels(path, count, image.width, image.height, limits)
    frames: list[np.ndarray] = []
    durations_ms: list[float] = []
    try:
        for index in range(count):
            image.seek(index)
            frame = _image_to_rgb(image)
            if frames and frame.shape != frames[0].shape:
                raise _size_mismatch(f"frame {index} of {path}", frame, "frame 0", frames[0])
            frames.append(frame)
            durations_ms.append(float(image.info.get("duration") or 0.0))
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        if not frames:
            raise VideoError(f"Cannot decode {path}: {error}.", _CHECK_OPENS) from error
        log.warning("%s: decoding stopped after %d frames (%s).", path, len(frames), error)
    if len(frames) > 1 and all(duration > 0 for duration in durations_ms[:-1]):
        timestamps = np.concatenate([[0.0], np.cumsum(durations_ms[:-1])]) / 1000.0
        return _video(frames, timestamps, _estimate_fps(timestamps, None), path)
    return _video(frames, np.arange(len(frames)) / DEFAULT_FPS, DEFAULT_FPS, path)


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a folder (by suffix, hidden files left out) in natural name order:
    ``frame_2`` before ``frame_10``."""
    return sorted(
        (
            entry
            for entry in folder.iterdir()
            if entry.suffix.lower() in FRAME_SUFFIXES
            and not entry.name.startswith(".")
            and entry.is_file()
        ),
        key=lambda entry: _natural_key(entry.name),
    )


def _read_folder(folder: Path, limits: VideoLimits) -> Video:
    """Decode the frame images of ``folder`` in natural name order, at :data:`DEFAULT_FPS`."""
    files = frame_files(folder)
    if not files:
        raise VideoError(
            f"{folder} holds no frame images ({', '.join(sorted(FRAME_SUFFIXES))}).",
            "Point at the folder that contains the frames themselves, e.g. JPEGImages/<video>.",
        )
    if len(files) > limits.max_frames:
        raise _too_many_frames(folder, f"{len(files)} frame images", limits)
    _check_file_bytes(folder, sum(file.stat().st_size for file in files), limits)
    frames = read_frame_files(files, limits)
    return _video(list(frames), np.arange(len(frames)) / DEFAULT_FPS, DEFAULT_FPS, folder)


def read_frame_files(files: Sequence[Path], limits: VideoLimits = DEFAULT_LIMITS) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames from image files of one size, in the order given (frame
    folders, and the frame lists of benchmarks).

    Raises:
        VideoError: a file cannot be read, exceeds ``limits``, or differs in size from the first.
    """
    frames: list[np.ndarray] = []
    for file in files:
        try:
            with Image.open(file) as image:
                _check_side(file, image.width, image.height, limits)
                _check_pixels(file.parent, len(files), image.width, image.height, limits)
                frame = _image_to_rgb(image)
        except Image.DecompressionBombError as error:
            raise _too_large_image(file) from error
        except (OSError, ValueError, EOFError, SyntaxError) as error:
            raise VideoError(
                f"Cannot read frame {file}: {error}.", "Replace or remove that file."
            ) from error
        if frames and frame.shape != frames[0].shape:
            raise _size_mismatch(str(file), frame, files[0].name, frames[0])
        frames.append(frame)
    return np.stack(frames)


def _open_with_pillow(path: Path) -> Image.Image | None:
    """Open ``path`` lazily with Pillow if it is a format Pillow should decode, else None."""
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise _too_large_image(path) from error
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    if image.format in _PILLOW_FORMATS:
        return image
    image.close()
    return None


def _image_to_rgb(image: Image.Image) -> np.ndarray:
    """Convert the current frame of ``image`` to (H,W,3) uint8 RGB.

    EXIF orientation is applied. 16-bit and 32-bit integer samples are scaled from 0..65535
    (not clipped); float samples from 0..1 (or clipped to 0..255 if any exceeds 1). An embedded
    ICC profile converts RGB, CMYK and grey images to sRGB; without one, CMYK uses Pillow's
    plain conversion. Transparency (alpha, or a palette's transparent index) is composited
    over white.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in _HIGH_DEPTH_MODES:
        image = Image.fromarray(_scale_to_uint8(np.asarray(image)))
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    elif image.mode in ("RGB", "CMYK", "L") and image.info.get("icc_profile"):
        image = _to_srgb(image)
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _scale_to_uint8(samples: np.ndarray) -> np.ndarray:
    """Scale (H,W) 16/32-bit integer (0..65535) or float samples to (H,W) uint8."""
    if samples.dtype.kind == "f":
        finite = np.nan_to_num(samples.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(np.rint(finite * scale), 0, 255).astype(np.uint8)
    wide = np.clip(samples.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert ``image`` from its embedded ICC profile to sRGB; unchanged if that fails."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        converted = ImageCms.profileToProfile(
            image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        log.debug("ignoring an unusable embedded ICC profile: %s", error)
        return image
    return converted if converted is not None else image


def _upright(rgb: np.ndarray, rotation: float) -> np.ndarray:
    """Rotate an (H,W,3) frame counter-clockwise by ``rotation`` degrees (nearest quarter turn).

    ``rotation`` is PyAV's ``VideoFrame.rotation``: the counter-clockwise turn the display
    matrix applies when showing the frame (-90 for a portrait phone video tagged rotate=90).
    Mirroring in the display matrix is not applied.
    """
    quarter_turns = round(rotation / 90) % 4
    return np.rot90(rgb, quarter_turns) if quarter_turns else rgb


def _estimate_fps(timestamps: np.ndarray, declared: float | None) -> float:
    """Mean frame rate of (T,) float64 ``timestamps``; else ``declared``; else the default."""
    if len(timestamps) >= 2:
        span = float(timestamps[-1] - timestamps[0])
        measured = _plausible_fps((len(timestamps) - 1) / span if span > 0 else None)
        if measured:
            return measured
    return _plausible_fps(declared) or DEFAULT_FPS


def _plausible_fps(fps: float | None) -> float | None:
    return fps if fps is not None and 0 < fps <= _MAX_PLAUSIBLE_FPS else None


def _video(frames: list[np.ndarray], timestamps: np.ndarray, fps: float, source: Path) -> Video:
    return Video(
        frames=np.stack(frames),
        fps=float(fps),
        timestamps=np.asarray(timestamps - timestamps[0], dtype=np.float64),
        source=str(source),
    )


def _natural_key(name: str) -> list[int | str]:
    """Sort key that orders digit runs by value: ``frame2.png`` before ``frame10.png``."""
    # re.split with a group alternates text and digit runs, so positions always match in type.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _check_file_bytes(path: Path, size: int, limits: VideoLimits) -> None:
    if size > limits.max_file_bytes:
        raise VideoError(
            f"{path} is {_human_bytes(size)}, over the {_human_bytes(limits.max_file_bytes)} "
            "max_file_bytes limit.",
            "Trim or re-encode it smaller (e.g. ffmpeg -i in.mp4 -vf scale=-2:720 out.mp4), "
            "or raise the limit.",
        )


def _check_side(path: Path, width: int, height: int, limits: VideoLimits) -> None:
    if max(width, height) > limits.max_side:
        raise VideoError(
            f"{path} is {width}×{height} pixels, over the max_side limit of {limits.max_side}.",
            "Downscale it first (e.g. ffmpeg -i in.mp4 -vf scale=-2:1080 out.mp4), "
            "or raise the limit.",
        )


def _check_pixels(path: Path, frames: int, width: int, height: int, limits: VideoLimits) -> None:
    """Refuse ``frames`` frames of ``width``×``height`` if they exceed ``limits.max_pixels``."""
    pixels = frames * width * height
    if pixels > limits.max_pixels:
        raise VideoError(
            f"{path} has {frames} frames of {width}×{height} = {pixels:,} pixels "
            f"({_human_bytes(3 * pixels)} decoded), over the max_pixels limit of "
            f"{limits.max_pixels:,} ({_human_bytes(3 * limits.max_pixels)}).",
            "Use fewer frames or smaller ones: trim, subsample or downscale it first "
            "(e.g. ffmpeg -i in.mp4 -vf fps=5,scale=-2:480 out.mp4).",
        )


def _too_many_frames(path: Path, count: str, limits: VideoLimits) -> VideoError:
    return VideoError(
        f"{path} has {count}, over the max_frames limit of {limits.max_frames}.",
        "Trim or subsample it first (e.g. ffmpeg -i in.mp4 -vf fps=5 out.mp4), or raise the limit.",
    )


def _too_large_image(path: Path) -> VideoError:
    return VideoError(
        f"{path} has too many pixels to decode safely.", "Downscale it first, e.g. to 1920 wide."
    )


def _size_mismatch(odd: str, frame: np.ndarray, first: str, expected: np.ndarray) -> VideoError:
    return VideoError(
        f"{odd} is {frame.shape[1]}×{frame.shape[0]} but {first} is "
        f"{expected.shape[1]}×{expected.shape[0]}; all frames must have the same size.",
        "Resize or remove the odd frame.",
    )


def _human_bytes(size: int) -> str:
    value, unit = float(size), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _reason(error: BaseException) -> str:
    """FFmpeg's own words for ``error``, without the errno and path PyAV adds."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
