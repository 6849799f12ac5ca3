"""read_video: containers, images, frame folders, rotation, timestamps, errors and limits."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageCms

from videolisa.errors import ConfigError, VideoError
from videolisa.video import DEFAULT_FPS, VideoLimits, read_video

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def assert_pattern(frames: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    """Compare the mean colour of each pattern region, away from edges that codecs blur."""
    assert frames.shape == expected.shape
    height, width = expected.shape[1:3]
    regions = [
        np.s_[4 : height // 2 - 4, 4 : width // 2 - 4],
        np.s_[4 : height // 2 - 4, width // 2 + 4 : -4],
        np.s_[height // 2 + 4 : -4, 4:-4],
    ]
    for index in range(len(expected)):
        for region in regions:
            got = frames[index][region].reshape(-1, 3).mean(axis=0)
            want = expected[index][region].reshape(-1, 3).mean(axis=0)
            assert np.abs(got - want).max() <= tolerance, (index, region, got, want)


VP9_OPTIONS = {"deadline": "realtime", "cpu-used": "8"}


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "options", "tolerance"),
    [
        ("clip.mp4", "libx264", "yuv420p", None, 12),
        ("clip.mov", "libx264", "yuv420p", None, 12),
        ("clip.webm", "libvpx-vp9", "yuv420p", VP9_OPTIONS, 16),
        ("clip.mkv", "libx264", "yuv420p", None, 12),
        ("clip.avi", "mpeg4", "yuv420p", {"qscale": "2"}, 16),
        ("clip.gif", "gif", "rgb8", None, 45),
    ],
)
def test_containers_round_trip(make_video, pattern, name, codec, pix_fmt, options, tolerance):
    expected = pattern(8)
    path = make_video(name, expected, codec=codec, pix_fmt=pix_fmt, codec_options=options)

    video = read_video(path)

    assert video.num_frames == 8
    assert (video.height, video.width) == (48, 64)
    assert video.frames.dtype == np.uint8
    assert video.frames.flags.c_contiguous
    assert video.fps == pytest.approx(10.0, rel=0.02)
    np.testing.assert_allclose(video.timestamps, np.arange(8) / 10.0, atol=0.011)
    assert video.source == str(path)
    assert_pattern(video.frames, expected, tolerance)


def test_container_is_detected_by_content_not_name(make_video, pattern):
    path = make_video("clip.mp4", pattern(3))
    renamed = path.rename(path.with_suffix(".png"))

    assert read_video(renamed).num_frames == 3


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(make_video, rotation):
    upright = np.zeros((64, 32, 3), dtype=np.uint8)  # portrait: red top, blue bottom
    upright[:32] = RED
    upright[32:] = BLUE
    stored = np.ascontiguousarray(np.rot90(upright, -(rotation // 90)))
    path = make_video("phone.mp4", np.stack([stored] * 3), rotation=rotation)

    video = read_video(path)

    assert (video.height, video.width) == (64, 32)
    np.testing.assert_allclose(video.frames[:, 4:28, 4:28].mean(axis=(0, 1, 2)), RED, atol=12)
    np.testing.assert_allclose(video.frames[:, 36:60, 4:28].mean(axis=(0, 1, 2)), BLUE, atol=12)


def test_variable_frame_rate_keeps_timestamps(make_video, pattern):
    pts_ms = [0, 100, 150, 400, 1000]
    path = make_video("vfr.mp4", pattern(5), pts_ms=pts_ms)

    video = read_video(path)

    np.testing.assert_allclose(video.timestamps, np.array(pts_ms) / 1000, atol=1e-3)
    assert video.timestamps.dtype == np.float64
    assert video.fps == pytest.approx(4 / 1.0, rel=1e-3)


@pytest.mark.parametrize(
    ("names", "suffix"),
    [
        ([f"frame_{index}" for index in range(12)], ".png"),
        ([f"{index:05d}" for index in range(12)], ".jpg"),
    ],
)
def test_frame_folder_in_natural_order(tmp_path, pattern, names, suffix):
    expected = pattern(12)
    folder = tmp_path / "frames"
    folder.mkdir()
    for name, frame in zip(names, expected, strict=True):
        Image.fromarray(frame).save(folder / f"{name}{suffix}", quality=95)
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".hidden.png").write_bytes(b"")
    (folder / "sub").mkdir()

    video = read_video(folder)

    assert video.num_frames == 12
    assert video.fps == DEFAULT_FPS
    np.testing.assert_allclose(video.timestamps, np.arange(12) / DEFAULT_FPS)
    assert_pattern(video.frames, expected, tolerance=6)


def test_frame_folder_with_an_odd_size_names_the_file(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(4):
        size = (40, 30) if index == 2 else (64, 48)
        Image.new("RGB", size, RED).save(folder / f"{index:05d}.png")

    with pytest.raises(VideoError, match=r"00002\.png is 40×30 but 00000\.png is 64×48"):
        read_video(folder)


def test_folder_without_frames(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")

    with pytest.raises(VideoError, match="holds no frame images"):
        read_video(tmp_path)


@pytest.mark.parametrize(("suffix", "tolerance"), [(".png", 0), (".jpg", 6)])
def test_single_image_is_a_one_frame_video(tmp_path, pattern, suffix, tolerance):
    expected = pattern(1)
    path = tmp_path / f"still{suffix}"
    Image.fromarray(expected[0]).save(path, quality=95)

    video = read_video(path)

    assert video.num_frames == 1
    assert video.fps == DEFAULT_FPS
    np.testing.assert_array_equal(video.timestamps, [0.0])
    assert_pattern(video.frames, expected, tolerance)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((32, 64, 3), dtype=np.uint8)  # landscape: red left, blue right
    stored[:, :32] = RED
    stored[:, 32:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise
    path = tmp_path / "photo.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)

    frame = read_video(path).frames[0]

    assert frame.shape == (64, 32, 3)
    np.testing.assert_allclose(frame[4:28, 4:28].mean(axis=(0, 1)), RED, atol=8)
    np.testing.assert_allclose(frame[36:60, 4:28].mean(axis=(0, 1)), BLUE, atol=8)


def test_grayscale_gif(tmp_path):
    levels = [0, 100, 250]
    images = [Image.new("L", (16, 12), level) for level in levels]
    path = tmp_path / "grey.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=100)

    video = read_video(path)

    assert video.frames.shape == (3, 12, 16, 3)
    np.testing.assert_allclose(video.frames.mean(axis=(1, 2)), np.repeat(levels, 3).reshape(3, 3))


def test_palette_gif(tmp_path):
    palette = [255, 0, 0, 0, 200, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    images = []
    for index in range(3):
        image = Image.new("P", (16, 12), index)
        image.putpalette(palette)
        images.append(image)
    path = tmp_path / "palette.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=50)

    video = read_video(path)

    np.testing.assert_array_equal(video.frames[:, 5, 5], [RED, (0, 200, 0), BLUE])
    assert video.fps == pytest.approx(20.0)


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path):
    samples = np.array([[0, 257, 32896, 65280, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(samples).save(path)
    assert Image.open(path).mode == "I;16"

    frame = read_video(path).frames[0]

    np.testing.assert_array_equal(frame[0, :, 0], [0, 1, 128, 254, 255])
    np.testing.assert_array_equal(frame[..., 0], frame[..., 2])


def test_sixteen_bit_rgb_png(tmp_path):
    samples = np.empty((4, 4, 3), dtype=np.uint16)
    samples[...] = (0x80FF, 0xFFFF, 0x0101)
    context = av.CodecContext.create("png", "w")
    context.width, context.height, context.pix_fmt = 4, 4, "rgb48be"
    packets = context.encode(av.VideoFrame.from_ndarray(samples, format="rgb48le"))
    path = tmp_path / "deep_rgb.png"
    path.write_bytes(b"".join(bytes(packet) for packet in [*packets, *context.encode(None)]))

    frame = read_video(path).frames[0]

    np.testing.assert_allclose(frame[0, 0], (128, 255, 1), atol=1)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path, quality=95)

    frame = read_video(path).frames[0]

    np.testing.assert_allclose(frame[8, 8], (0, 255, 255), atol=4)


def test_transparency_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 3, 4), dtype=np.uint8)
    rgba[0] = (255, 0, 0, 0)  # transparent red -> white
    rgba[1] = (255, 0, 0, 255)  # opaque red
    rgba[2] = (255, 0, 0, 128)  # half red over white
    rgba[3] = (0, 0, 255, 255)
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)

    frame = read_video(path).frames[0]

    np.testing.assert_allclose(frame[:, 1], [WHITE, RED, (255, 127, 127), BLUE], atol=1)


def test_palette_png_with_transparent_index(tmp_path):
    image = Image.new("P", (4, 2), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    image.putpixel((1, 1), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)

    frame = read_video(path).frames[0]

    np.testing.assert_array_equal(frame[0, 0], WHITE)
    np.testing.assert_array_equal(frame[1, 1], BLUE)


def test_embedded_icc_profile_is_applied(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "tagged.png"
    Image.new("RGB", (4, 4), (10, 200, 30)).save(path, icc_profile=srgb)

    np.testing.assert_array_equal(read_video(path).frames[0, 0, 0], (10, 200, 30))


def test_truncated_image(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(noisy(1)[0]).save(path)
    path.write_bytes(path.read_bytes()[:2000])

    with pytest.raises(VideoError, match=r"Cannot decode .*cut\.png: image file is truncated"):
        read_video(path)


def test_animated_webp(tmp_path):
    images = [Image.new("RGB", (16, 16), (60 * index, 0, 0)) for index in range(3)]
    path = tmp_path / "anim.webp"
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, lossless=True)

    video = read_video(path)

    np.testing.assert_array_equal(video.frames[:, 0, 0, 0], [0, 60, 120])
    np.testing.assert_allclose(video.timestamps, [0.0, 0.04, 0.08])
    assert video.fps == pytest.approx(25.0)


def test_missing_path(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()

    with pytest.raises(VideoError, match=r"is empty \(0 bytes\)"):
        read_video(path)


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(0).bytes(20_000), b"just some notes, not a video\n" * 50],
    ids=["random-bytes", "text"],
)
def test_not_a_video(tmp_path, content):
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)

    with pytest.raises(VideoError, match="it is not a video or image") as error:
        read_video(path)
    assert "\n" not in str(error.value)
    assert "re-download" in str(error.value)


def noisy(count: int) -> np.ndarray:
    """Incompressible frames, so the media data dominates the file size."""
    return np.random.default_rng(1).integers(0, 256, (count, 48, 64, 3), dtype=np.uint8)


def test_truncated_mp4_with_index_at_the_end(make_video):
    path = make_video("cut.mp4", noisy(20))
    data = path.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(VideoError, match="damaged"):
        read_video(path)


def test_truncated_tail_keeps_frames_decoded_so_far(make_video, caplog):
    path = make_video("cut.mp4", noisy(20), container_options={"movflags": "+faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with caplog.at_level(logging.WARNING, logger="videolisa.video.reader"):
        video = read_video(path)

    assert 0 < video.num_frames < 20
    assert "truncated" in caplog.text or "decoding stopped" in caplog.text


def test_audio_only_file(tmp_path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for index in range(5):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            frame.pts = index * 1024
            frame.time_base = Fraction(1, 16000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

    with pytest.raises(VideoError, match="no video stream, only audio"):
        read_video(path)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
def test_frame_limit(make_video, pattern, name):
    path = make_video(name, pattern(12))

    with pytest.raises(VideoError, match="over the max_frames limit of 5") as error:
        read_video(path, VideoLimits(max_frames=5))
    assert "subsample" in str(error.value)
    assert read_video(path, VideoLimits(max_frames=12)).num_frames == 12


def test_frame_limit_for_folders_and_animations(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    images = [Image.new("RGB", (8, 8), (60 * index, 0, 0)) for index in range(4)]
    for index, image in enumerate(images):
        image.save(folder / f"{index}.png")
    anim = tmp_path / "anim.webp"
    images[0].save(anim, save_all=True, append_images=images[1:], duration=50, lossless=True)

    for path in (folder, anim):
        with pytest.raises(VideoError, match=r"4 frame.*max_frames limit of 3"):
            read_video(path, VideoLimits(max_frames=3))


def test_side_limit(make_video, pattern, tmp_path):
    video_path = make_video("clip.mp4", pattern(2))
    image_path = tmp_path / "still.png"
    Image.new("RGB", (64, 20)).save(image_path)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (20, 64)).save(folder / "0.png")

    for path in (video_path, image_path, folder / "0.png", folder):
        with pytest.raises(VideoError, match="over the max_side limit of 63"):
            read_video(path, VideoLimits(max_side=63))
    assert read_video(video_path, VideoLimits(max_side=64)).width == 64


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])  # mkv: no frame count stored
def test_pixel_limit_for_videos(make_video, pattern, monkeypatch, name):
    path = make_video(name, pattern(12))  # 12 frames of 64×48 = 36,864 pixels
    decoded = []
    to_ndarray = av.VideoFrame.to_ndarray
    monkeypatch.setattr(
        av.VideoFrame, "to_ndarray", lambda self, **kw: decoded.append(1) or to_ndarray(self, **kw)
    )

    with pytest.raises(VideoError, match=r"64×48 = .*over the max_pixels limit of 30,000") as error:
        read_video(path, VideoLimits(max_pixels=30_000))
    assert "fewer frames or smaller ones" in str(error.value)
    assert len(decoded) == (0 if name == "clip.mp4" else 9)  # the mp4 says its frame count
    assert read_video(path, VideoLimits(max_pixels=12 * 64 * 48)).num_frames == 12


def test_pixel_limit_for_images_and_folders(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    images = [Image.new("RGB", (10, 10), (60 * index, 0, 0)) for index in range(4)]
    for index, image in enumerate(images):
        image.save(folder / f"{index}.png")
    anim = tmp_path / "anim.webp"
    images[0].save(anim, save_all=True, append_images=images[1:], duration=50, lossless=True)

    for path in (folder, anim):
        with pytest.raises(VideoError, match="4 frames of 10×10 = 400 pixels"):
            read_video(path, VideoLimits(max_pixels=399))
        assert read_video(path, VideoLimits(max_pixels=400)).num_frames == 4


def test_default_pixel_limit_caps_the_frames_at_2_gib():
    assert 3 * VideoLimits().max_pixels <= 2 * 1024**3


def test_file_size_limit(make_video, pattern, tmp_path):
    path = make_video("clip.mp4", pattern(2))
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(noisy(1)[0]).save(folder / f"{index}.png")
    folder_bytes = sum(file.stat().st_size for file in folder.iterdir())

    with pytest.raises(VideoError, match="max_file_bytes limit"):
        read_video(path, VideoLimits(max_file_bytes=path.stat().st_size - 1))
    with pytest.raises(VideoError, match="max_file_bytes limit"):
        read_video(folder, VideoLimits(max_file_bytes=folder_bytes - 1))
    assert read_video(folder, VideoLimits(max_file_bytes=folder_bytes)).num_frames == 3


@pytest.mark.parametrize(
    "settings", [{"max_frames": 0}, {"max_side": -1}, {"max_file_bytes": 1.5}, {"max_frames": True}]
)
def test_limits_must_be_positive_integers(settings):
    with pytest.raises(ConfigError, match=f"{next(iter(settings))} must be a whole number"):
        VideoLimits(**settings)


def test_video_properties(make_video, pattern):
    video = read_video(make_video("clip.mp4", pattern(3, height=32, width=48)))

    assert (video.num_frames, video.height, video.width) == (3, 32, 48)


def test_path_may_be_a_string(make_video, pattern):
    assert read_video(str(make_video("clip.mp4", pattern(2)))).num_frames == 2
