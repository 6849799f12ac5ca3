"""Hostile and unusual media written with PyAV and Pillow, and a launched app to send them to.

``media(name)`` returns the path of one named input (see :data:`MEDIA`), made on first use and
shared by the whole test session: the 10,000-frame and 8K files take a second or two to encode.
``app_server`` starts ``app.py`` on the golden tiny model for one test module.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.app_server import AppServer, running_app
from tests.conftest import golden_model_args
from tests.media import encode_video, square_frames


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        tone = (0.2 * np.sin(np.arange(16000) * 0.05)).astype(np.float32)[None]
        for start in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[:, start : start + 1024]), format="flt", layout="mono"
            )
            frame.sample_rate = 16000
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _truncated(path: Path) -> Path:
    whole = encode_video(path.with_name("whole.mp4"), square_frames(20, 48, 64))
    data = whole.read_bytes()  # the mp4 muxer writes the moov index at the end
    assert data.rfind(b"moov") > len(data) // 2
    path.write_bytes(data[: len(data) // 2])
    return path


def _gif(path: Path, mode: str) -> Path:
    frames = [Image.fromarray(frame).convert(mode) for frame in square_frames(6, 40, 56)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def _png16(path: Path) -> Path:
    ramp = np.linspace(0, 65535, 50 * 70).reshape(50, 70).astype(np.uint16)
    Image.fromarray(ramp, mode="I;16").save(path)
    return path


def _cmyk_jpeg(path: Path) -> Path:
    Image.new("CMYK", (70, 50), (0, 200, 200, 0)).save(path, quality=95)
    return path


def _mixed_folder(path: Path) -> Path:
    path.mkdir()
    for index, (width, height) in enumerate([(64, 48), (64, 48), (80, 48)]):
        Image.fromarray(square_frames(1, height, width)[0]).save(path / f"{index:05d}.png")
    return path


MEDIA: dict[str, Callable[[Path], Path]] = {
    "empty.mp4": lambda p: (p.write_bytes(b""), p)[1],
    "random.mp4": lambda p: (p.write_bytes(random.Random(6).randbytes(20_000)), p)[1],
    "text.mp4": lambda p: (p.write_text("This is a text file, not a video.\n" * 40), p)[1],
    "truncated.mp4": _truncated,
    "audio_only.mp4": _audio_only,
    "one_frame.mp4": lambda p: encode_video(p, square_frames(1, 48, 64)),
    "long.mp4": lambda p: encode_video(
        p, square_frames(10_000, 16, 16, side=4), fps=25, options={"preset": "ultrafast"}
    ),
    "long.mkv": lambda p: encode_video(  # Matroska stores no frame count
        p, square_frames(3000, 16, 16, side=4), fps=25, options={"preset": "ultrafast"}
    ),
    "8k.mp4": lambda p: encode_video(
        p, np.zeros((1, 4320, 7680, 3), np.uint8), options={"preset": "ultrafast"}
    ),
    "odd.mkv": lambda p: encode_video(p, square_frames(5, 241, 321), pix_fmt="yuv444p"),
    "rotated.mp4": lambda p: encode_video(p, square_frames(5, 48, 64), rotation=90),
    "vfr.mp4": lambda p: encode_video(
        p, square_frames(6, 48, 64), pts_ms=[0, 40, 50, 200, 210, 400]
    ),
    "grey.gif": lambda p: _gif(p, "L"),
    "palette.gif": lambda p: _gif(p, "P"),
    "deep.png": _png16,
    "cmyk.jpg": _cmyk_jpeg,
    "mixed_frames": _mixed_folder,
}


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``media(name)``: the path of the input ``name`` of :data:`MEDIA`, made once."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = MEDIA[name](tmp_path_factory.mktemp("media") / name)
        return made[name]

    return get


@pytest.fixture
def square_video(tmp_path: Path) -> Callable[..., Path]:
    """``square_video(name, count, height, width, corner=(0, 0))``: an mp4 of
    :func:`square_frames` in ``tmp_path``."""

    def make(name: str, count: int, height: int, width: int, corner=(0, 0)) -> Path:
        return encode_video(tmp_path / name, square_frames(count, height, width, corner))

    return make


# ------------------------------------------------------------------------ a launched app
MAX_FILE_SIZE = "1mb"  # the launched app's upload limit


@pytest.fixture(scope="module")
def app_server(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on the golden tiny model (4 sparse / 1 dense frames, uploads up to 1 MB),
    logging at its default INFO level to ``log``."""
    args = [*golden_model_args(golden_dir, dense=1), "--max-file-size", MAX_FILE_SIZE]
    with running_app(tmp_path_factory.mktemp("app"), args) as server:
        yield server
