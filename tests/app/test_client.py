"""The running app through gradio_client: two chat turns on one video, then the API."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from videolisa.video import read_video

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VIDEO = PROJECT_ROOT / "assets" / "examples" / "dangerous.mp4"
# sparse, dense, max new tokens, temperature, always answer with a mask, opacity
WITH_MASK = (4, 1, 8, 0.0, True, 0.5)
GENERATE = (4, 1, 8, 0.0, False, 0.5)


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def texts(message: dict) -> list[str]:
    return [part["text"] for part in message["content"] if part["type"] == "text"]


def files(message: dict) -> list[Path]:
    return [Path(part["file"]) for part in message["content"] if part["type"] == "file"]


def check_result(overlay: Path, masks_zip: Path, tracks: int) -> None:
    """Overlay and masks have one frame per input frame and one mask folder per track, and
    frame by frame the overlay is tinted red (track 0) inside the mask and unchanged outside."""
    source = read_video(VIDEO).frames.astype(np.int16)
    tinted = read_video(overlay).frames.astype(np.int16)
    assert tinted.shape == source.shape
    with zipfile.ZipFile(masks_zip) as archive:
        names = [name for name in archive.namelist() if name.startswith("masks/")]
        folders = sorted({name.split("/")[1] for name in names})
        assert folders == [str(track) for track in range(tracks)]
        for folder in folders:
            pngs = sorted(name for name in names if name.split("/")[1] == folder)
            assert pngs == [f"masks/{folder}/{index:05d}.png" for index in range(len(source))]
        masks = np.stack(
            [np.asarray(Image.open(io.BytesIO(archive.read(name)))) > 0 for name in pngs]
        )
    for index, mask in enumerate(masks):  # the last track's masks
        inside, outside = erode(mask), erode(~mask)
        change = tinted[index] - source[index]
        if inside.any():
            assert change[inside][:, 0].mean() > 40, f"frame {index} not tinted red in the mask"
        assert np.abs(change[outside]).mean() < 8, f"frame {index} changed outside the mask"


def erode(mask: np.ndarray, steps: int = 3) -> np.ndarray:
    """``mask`` shrunk by ``steps`` pixels (away from compression blur at its edges)."""
    for _ in range(steps):
        shrunk = mask.copy()
        shrunk[1:] &= mask[:-1]
        shrunk[:-1] &= mask[1:]
        shrunk[:, 1:] &= mask[:, :-1]
        shrunk[:, :-1] &= mask[:, 1:]
        mask = shrunk
    return mask


def test_two_chat_turns_then_the_segment_api(client: Client):
    _, shown = client.predict(
        {"text": "Where is the <TRK> star?", "files": [handle_file(VIDEO)]},
        api_name="/add_message",
    )
    assert [message["role"] for message in shown] == ["user", "user"]
    assert texts(shown[1]) == ["Where is the &lt;TRK&gt; star?"]  # shown as typed, not as HTML

    chat = client.predict(*WITH_MASK, api_name="/respond")
    answer = chat[-1]
    assert answer["role"] == "assistant"
    assert "track 0" in texts(answer)[0] and "rgb(255, 38, 38)" in texts(answer)[0]
    overlay, masks_zip = files(answer)
    assert (overlay.suffix, masks_zip.suffix) == (".mp4", ".zip")
    check_result(overlay, masks_zip, tracks=1)

    client.predict({"text": "Is it moving?", "files": []}, api_name="/add_message")
    chat = client.predict(*GENERATE, api_name="/respond")
    assert [message["role"] for message in chat] == [
        "user",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert texts(chat[-1])

    answer, overlay, masks_zip = client.predict(
        handle_file(VIDEO), "Segment the dangerous object.", api_name="/segment"
    )
    assert answer == "Sure, <TRK>."
    check_result(Path(overlay), Path(masks_zip), tracks=1)


def test_a_turn_without_a_video_answers_with_a_message(client: Client):
    fresh = Client(client.src, verbose=False)
    fresh.predict({"text": "What is this?", "files": []}, api_name="/add_message")
    chat = fresh.predict(*WITH_MASK, api_name="/respond")
    assert texts(chat[-1]) == ["No video yet. Attach a video or an image to your message."]
