"""write_mp4 and write_mask_png: round trips, frame rate, padding, faststart, atomic writes."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from videolisa.errors import ConfigError, VideoError
from videolisa.video import read_video, write_mask_png, write_mp4


def test_round_trip_keeps_frames_size_and_colours(tmp_path, pattern):
    frames = pattern(12)
    path = tmp_path / "out.mp4"

    write_mp4(path, frames, fps=10)

    video = read_video(path)
    assert video.frames.shape == frames.shape
    assert video.fps == pytest.approx(10.0)
    error = np.abs(video.frames.astype(int) - frames).reshape(12, -1, 3)
    assert np.median(error) <= 2
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_generator_input_and_exact_frame_count(tmp_path, pattern):
    path = tmp_path / "out.mp4"

    write_mp4(path, (frame for frame in pattern(7)), fps=25)

    assert read_video(path).num_frames == 7


@pytest.mark.parametrize(
    ("fps", "rate"), [(29.97, Fraction(2997, 100)), (30000 / 1001, Fraction(30000, 1001))]
)
def test_non_integer_frame_rate(tmp_path, pattern, fps, rate):
    path = tmp_path / "out.mp4"

    write_mp4(path, pattern(6), fps=fps)

    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == rate
    assert read_video(path).fps == pytest.approx(fps, rel=1e-6)


def test_odd_size_is_padded_by_repeating_the_last_row_and_column(tmp_path):
    frames = np.zeros((3, 241, 321, 3), dtype=np.uint8)
    frames[:, :, -8:] = (0, 0, 255)  # blue right strip
    frames[:, -8:, :] = (0, 255, 0)  # green bottom strip
    path = tmp_path / "odd.mp4"

    write_mp4(path, frames, fps=10)

    video = read_video(path)
    assert (video.num_frames, video.height, video.width) == (3, 242, 322)
    np.testing.assert_allclose(video.frames[:, 100:140, -1].mean(axis=(0, 1)), (0, 0, 255), atol=12)
    np.testing.assert_allclose(video.frames[:, -1, 100:200].mean(axis=(0, 1)), (0, 255, 0), atol=12)


def test_moov_box_comes_before_media_data(tmp_path, pattern):
    path = tmp_path / "out.mp4"

    write_mp4(path, pattern(5), fps=10)

    data = path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def failing_frames(
    frames: np.ndarray, fail_at: int, folder: Path, seen: list[str]
) -> Iterator[np.ndarray]:
    """Yield ``frames`` but raise at ``fail_at``, noting the names in ``folder`` at that moment."""
    for index, frame in enumerate(frames):
        if index == fail_at:
            seen.extend(sorted(entry.name for entry in folder.iterdir()))
            raise RuntimeError("interrupted")
        yield frame


def test_interrupted_write_leaves_no_file(tmp_path, pattern):
    path = tmp_path / "out.mp4"
    seen: list[str] = []

    with pytest.raises(RuntimeError, match="interrupted"):
        write_mp4(path, failing_frames(pattern(60), 50, tmp_path, seen), fps=10)

    assert len(seen) == 1 and seen[0].startswith(".out.mp4.") and seen[0].endswith(".part")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_file(tmp_path, pattern):
    path = tmp_path / "out.mp4"
    write_mp4(path, pattern(2), fps=10)
    before = path.read_bytes()

    with pytest.raises(RuntimeError):
        write_mp4(path, failing_frames(pattern(60), 50, tmp_path, []), fps=10)

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_overwrites_an_existing_file(tmp_path, pattern):
    path = tmp_path / "out.mp4"
    write_mp4(path, pattern(2), fps=10)

    write_mp4(str(path), pattern(4), fps=10)

    assert read_video(path).num_frames == 4


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf"), "25", True])
def test_frame_rate_must_be_positive(tmp_path, pattern, fps):
    with pytest.raises(ConfigError, match="fps must be a positive number"):
        write_mp4(tmp_path / "out.mp4", pattern(2), fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), "at least one frame"),
        (np.zeros((2, 8, 8, 3), dtype=np.float32), r"\(H,W,3\) uint8"),
        (np.zeros((2, 8, 8), dtype=np.uint8), r"\(H,W,3\) uint8"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], "like the first"),
    ],
)
def test_bad_frames_are_programming_errors(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_mp4(tmp_path / "out.mp4", frames, fps=10)
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder(tmp_path, pattern):
    with pytest.raises(VideoError, match="does not exist"):
        write_mp4(tmp_path / "nope" / "out.mp4", pattern(2), fps=10)
    with pytest.raises(VideoError, match="does not exist"):
        write_mask_png(tmp_path / "nope" / "00000.png", np.zeros((4, 4), dtype=bool))


def test_mask_png_is_single_channel_0_or_255(tmp_path):
    mask = np.zeros((5, 7), dtype=bool)
    mask[1:3, 2:6] = True
    (tmp_path / "masks" / "0").mkdir(parents=True)
    path = tmp_path / "masks" / "0" / "00003.png"

    write_mask_png(path, mask)

    with Image.open(path) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (7, 5))
        np.testing.assert_array_equal(np.asarray(image), mask.astype(np.uint8) * 255)
    assert [entry.name for entry in path.parent.iterdir()] == ["00003.png"]


@pytest.mark.parametrize(
    "mask", [np.zeros((4, 4), dtype=np.uint8), np.zeros((1, 4, 4), dtype=bool)]
)
def test_mask_must_be_2d_bool(tmp_path, mask):
    with pytest.raises(ValueError, match=r"\(H,W\) bool"):
        write_mask_png(tmp_path / "m.png", mask)
