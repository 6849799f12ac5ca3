"""Bad, huge and unusual media through ``python -m videolisa segment`` and the chat service.

Each input either works, and then the masks have the input's frame count and size (upright)
and the overlay the same with odd sides padded to even, or is refused with one line naming
the problem and the limit. A refused turn leaves the conversation as it was.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import golden_model_args
from videolisa.chat.events import TurnDone, TurnFailed
from videolisa.chat.service import ChatService
from videolisa.chat.settings import TurnSettings
from videolisa.cli import main
from videolisa.errors import VideoError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.video import VideoLimits, read_video

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = TurnSettings(EncodeSettings(4, 2), always_mask=True)

# name -> (frames, height, width) of the upright input
WORKS = {
    "one_frame.mp4": (1, 48, 64),
    "odd.mkv": (5, 241, 321),
    "rotated.mp4": (5, 64, 48),  # 64×48 stored, shown turned a quarter: 48 wide, 64 high
    "vfr.mp4": (6, 48, 64),
    "grey.gif": (6, 40, 56),
    "palette.gif": (6, 40, 56),
    "deep.png": (1, 50, 70),
    "cmyk.jpg": (1, 50, 70),
}
# name -> what the one-line refusal says
REFUSED = {
    "empty.mp4": "is empty (0 bytes)",
    "random.mp4": "it is not a video or image, or it is damaged",
    "text.mp4": "it is not a video or image, or it is damaged",
    "truncated.mp4": "it is not a video or image, or it is damaged",
    "audio_only.mp4": "has no video stream, only audio",
    "long.mp4": "has 10000 frames, over the max_frames limit of 2000",
    "long.mkv": "has more than 2000 frames, over the max_frames limit of 2000",
    "8k.mp4": "is 7680×4320 pixels, over the max_side limit of 4096",
    "mixed_frames": "00002.png is 80×48 but 00000.png is 64×48",
}


def cli_args(golden_dir: Path, video: Path, out: Path) -> list[str]:
    return [
        "segment",
        *golden_model_args(golden_dir),
        "--video",
        str(video),
        "--prompt",
        "Where is the square?",
        "--out",
        str(out),
    ]


def check_result(masks: list[np.ndarray], overlay: Path, expected: tuple[int, int, int]) -> None:
    """Masks: one per frame at the input's size; overlay: as many frames, sides padded to even
    (a single image: overlay.png at the image's size)."""
    count, height, width = expected
    assert len(masks) == count
    assert all(mask.shape == (height, width) for mask in masks)
    assert all(set(np.unique(mask)) <= {0, 255} for mask in masks)
    if count == 1:
        assert overlay.name == "overlay.png"
        assert np.asarray(Image.open(overlay)).shape == (height, width, 3)
        return
    frames = read_video(overlay).frames
    assert frames.shape == (count, height + height % 2, width + width % 2, 3)


def overlay_in(out: Path) -> Path:
    """The overlay ``segment --out`` wrote: overlay.mp4, or overlay.png for an image."""
    (overlay,) = out.glob("overlay.*")
    return overlay


# ---------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("name", sorted(WORKS))
def test_cli_segments_unusual_media(name, media, golden_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(cli_args(golden_dir, media(name), out)) == 0
    pngs = sorted((out / "masks" / "0").glob("*.png"))
    check_result([np.asarray(Image.open(png)) for png in pngs], overlay_in(out), WORKS[name])
    assert json.loads(capsys.readouterr().out)["num_frames"] == WORKS[name][0]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_cli_refuses_bad_media_in_one_line(name, media, golden_dir, tmp_path, capsys):
    path = media(name)
    start = time.perf_counter()
    assert main(cli_args(golden_dir, path, tmp_path / "out")) == 2
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert str(path) in captured.err and REFUSED[name] in captured.err
    assert not (tmp_path / "out").exists()
    # Refused before decoding; Matroska stores no frame count, so its first 2000 frames are.
    assert seconds < (10 if name == "long.mkv" else 2), f"{name}: {seconds:.1f} s to refuse"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "works"), [("text.mp4", False), ("odd.mkv", True)])
def test_cli_process_exit_codes(name, works, media, golden_dir, tmp_path):
    """The real command line: exit code 0 with results, or 2 with one line and no traceback."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "videolisa", *cli_args(golden_dir, media(name), out)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    if works:
        assert done.returncode == 0, done.stderr
        assert (out / "overlay.mp4").is_file()
    else:
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0 and REFUSED[name] in done.stderr


def test_pixel_budget_refuses_before_decoding(media):
    """10,000 frames of 16×16 under a raised max_frames: the pixel budget refuses them at once."""
    limits = VideoLimits(max_frames=20_000, max_pixels=200_000)
    start = time.perf_counter()
    with pytest.raises(VideoError, match=r"10000 frames of 16×16 .*max_pixels limit of 200,000"):
        read_video(media("long.mp4"), limits)
    assert time.perf_counter() - start < 1


# ------------------------------------------------------------------------------ service
@pytest.fixture(scope="module")
def service(golden_pipeline, tmp_path_factory):
    return ChatService(golden_pipeline, workdir_root=tmp_path_factory.mktemp("chat"))


def masks_in(masks_zip: Path) -> list[np.ndarray]:
    with zipfile.ZipFile(masks_zip) as archive:
        names = sorted(name for name in archive.namelist() if name.startswith("masks/0/"))
        return [np.asarray(Image.open(io.BytesIO(archive.read(name)))) for name in names]


@pytest.mark.parametrize("name", sorted(WORKS))
def test_service_segments_unusual_media(name, media, service):
    conversation = service.conversations.open()
    conversation.attach(media(name))
    done = list(service.run_turn(conversation, "Where is the square?", SETTINGS))[-1]
    assert isinstance(done, TurnDone), done
    check_result(masks_in(done.masks_zip), done.overlay, WORKS[name])
    conversation.close()


def test_service_refuses_bad_media_and_keeps_the_conversation(media, service, golden_dir):
    """Every bad file in turn in one conversation: a one-line refusal each, the history as it
    was, and the good video answered again afterwards."""
    conversation = service.conversations.open()
    good = media("one_frame.mp4")
    conversation.attach(good)
    assert isinstance(list(service.run_turn(conversation, "Where?", SETTINGS))[-1], TurnDone)
    for name, reason in REFUSED.items():
        conversation.attach(media(name))
        history = list(conversation.session.history)
        turn_files = sorted(conversation.workdir.rglob("*"))
        outcome = list(service.run_turn(conversation, "Where is it?", SETTINGS))[-1]
        assert isinstance(outcome, TurnFailed), name
        assert reason in outcome.message and "\n" not in outcome.message
        assert conversation.session.history == history
        assert sorted(conversation.workdir.rglob("*")) == turn_files  # nothing half-written
    conversation.attach(good)  # the same video again: the conversation goes on
    assert isinstance(list(service.run_turn(conversation, "And now?", SETTINGS))[-1], TurnDone)
    assert len(conversation.session.history) == 4
    conversation.close()
