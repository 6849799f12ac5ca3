"""The running app through gradio_client: the ``chat`` and ``segment`` endpoints (plain text,
settings by name, a video only when it changes), two turns on one video, every bad setting
answered with a message naming it, notices from both endpoints, and a cancelled job that frees
the queue."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from tests.app.runaway_model import MAX_TRACKS, long_video, seconds_until_idle
from videolisa.video import read_video

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VIDEO = PROJECT_ROOT / "assets" / "examples" / "dangerous.mp4"
WITH_MASK = {"frames_sparse": 4, "frames_dense": 1, "max_new_tokens": 8, "always_mask": True}
GENERATE = {"frames_sparse": 4, "frames_dense": 1, "max_new_tokens": 8}
OUTPUTS = ["answer", "tracks", "overlay", "masks_zip", "notices"]
SETTINGS = [
    "frames_sparse",
    "frames_dense",
    "max_new_tokens",
    "temperature",
    "always_mask",
    "refine",
    "opacity",
]


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


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


def test_the_api_takes_settings_by_name_and_the_video_only_when_it_changes(client: Client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(api) == {"/chat", "/segment", "/click"}  # the UI's own events are private
    chat = {p["parameter_name"]: p for p in api["/chat"]["parameters"]}
    assert list(chat) == ["message", "video", *SETTINGS]
    assert not chat["message"]["parameter_has_default"]
    assert all(chat[name]["parameter_has_default"] for name in ["video", *SETTINGS])
    assert chat["frames_sparse"]["parameter_default"] == 4  # the server's --frames-sparse
    assert [output["label"] for output in api["/chat"]["returns"]] == OUTPUTS
    segment = [p["parameter_name"] for p in api["/segment"]["parameters"]]
    assert segment == ["video", "prompt", *(s for s in SETTINGS if s != "always_mask")]
    assert [output["label"] for output in api["/segment"]["returns"]] == OUTPUTS
    click = [p["parameter_name"] for p in api["/click"]["parameters"]]
    assert click == ["frame", "points", "box", "track", "refine", "opacity"]
    assert [output["label"] for output in api["/click"]["returns"]] == OUTPUTS


def test_two_chat_turns_then_the_segment_api(client: Client):
    answer, tracks, overlay, masks_zip, notices = client.predict(
        "Where is the <TRK> star?", handle_file(VIDEO), **WITH_MASK, api_name="/chat"
    )
    assert answer == "Sure, <TRK>." and notices == []  # plain text, no HTML
    assert [(t["track"], t["color"], t["masks"]) for t in tracks] == [(0, "#ff2626", "masks/0/")]
    assert 0 < tracks[0]["mean_area"] <= 1 and tracks[0]["frames"] >= 0
    assert (Path(overlay).suffix, Path(masks_zip).suffix) == (".mp4", ".zip")
    check_result(Path(overlay), Path(masks_zip), tracks=1)

    answer, tracks, *_ = client.predict("Is it moving?", **GENERATE, api_name="/chat")
    assert answer and "<span" not in answer and len(tracks) == answer.count("<TRK>")

    answer, tracks, overlay, masks_zip, _ = client.predict(
        handle_file(VIDEO), "Segment the dangerous object.", api_name="/segment"
    )
    assert answer == "Sure, <TRK>." and len(tracks) == 1
    check_result(Path(overlay), Path(masks_zip), tracks=1)


def test_a_click_adds_an_object_to_the_last_answer(client: Client):
    fresh = Client(client.src, verbose=False)
    fresh.predict("Where is the star?", handle_file(VIDEO), **WITH_MASK, api_name="/chat")
    answer, tracks, overlay, masks_zip, notices = fresh.predict(3, [[30, 20, 1]], api_name="/click")
    assert answer == "Sure, <TRK>." and [t["track"] for t in tracks] == [0, 1]
    assert Path(overlay).name.startswith("overlay-corrected-") and masks_zip
    assert any("Refine over time" in notice for notice in notices)
    for args, message in [
        ((99, [[30, 20, 1]]), "Frame 99 is not in the video"),
        ((3, [[9999, 20, 1]]), "outside the frame"),
        ((3, [[30, 20]]), "must be [x, y, label]"),
        ((3, None, [5, 5, 5, 9]), "has no area"),
        ((3, [[30, 20, 1]], None, 7), "Track 7 does not exist"),
    ]:
        with pytest.raises(AppError, match=re.escape(message)):
            fresh.predict(*args, api_name="/click")


def test_segment_returns_its_notices(client: Client):
    long_prompt = "Segment the object. " * 400  # 8,000 characters: cut, with a notice
    *_, notices = client.predict(handle_file(VIDEO), long_prompt, api_name="/segment")
    assert any("only the first 4,000 were used" in notice for notice in notices)


BAD_SETTINGS = [
    ("frames_sparse", 10**9, "from 1 to"),
    ("frames_sparse", -1, "from 1 to"),
    ("frames_sparse", 1.5, "a whole number"),
    ("frames_sparse", "abc", "a whole number"),
    ("frames_dense", 0, "from 1 to"),
    ("max_new_tokens", 0, "from 1 to 512"),
    ("max_new_tokens", 10**9, "from 1 to 512"),
    ("temperature", "nan", "a number from 0 to 2"),
    ("temperature", "inf", "a number from 0 to 2"),
    ("temperature", -0.5, "a number from 0 to 2"),
    ("always_mask", "yes", "true or false"),
    ("refine", "xmem", "one of off, sam2, edgetam, sam3"),
    ("opacity", 3, "a number from 0 to 1"),
]


def test_every_bad_setting_is_answered_with_what_is_allowed(client: Client, golden_app):
    import psutil

    process = psutil.Process(golden_app.process.pid)
    before = process.memory_info().rss
    for name, value, allowed in BAD_SETTINGS:
        with pytest.raises(AppError) as refused:
            client.predict("Where?", handle_file(VIDEO), **{name: value}, api_name="/chat")
        message = str(refused.value)
        assert f"Setting {name} " in message and allowed in message, message
        assert "Traceback" not in message and "upstream" not in message
    with pytest.raises(AppError, match=r"frames_dense .*at most frames_sparse \(2\); got 3"):
        client.predict("Where?", frames_sparse=2, frames_dense=3, api_name="/chat")
    assert process.memory_info().rss - before < 300 * 2**20
    answer, *_ = client.predict("Where?", handle_file(VIDEO), **WITH_MASK, api_name="/chat")
    assert answer == "Sure, <TRK>."  # the server is unchanged


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_sent_as_raw_json_are_named_too(app_url: str, token: str):
    """JSON's NaN and Infinity (which gradio_client cannot send) through the HTTP API."""
    import json
    import urllib.request

    settings = ", ".join(token if name == "temperature" else "null" for name in SETTINGS)
    body = f'{{"data": ["Where?", null, {settings}]}}'.encode()
    request = urllib.request.Request(
        f"{app_url}/gradio_api/call/chat", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{app_url}/gradio_api/call/chat/{event}", timeout=60) as stream:
        text = stream.read().decode()
    assert "event: error" in text and "Setting temperature" in text, text
    assert "a number from 0 to 2" in text


def test_a_turn_without_a_video_answers_with_a_message(client: Client):
    fresh = Client(client.src, verbose=False)
    with pytest.raises(AppError, match=r"No video yet\. Attach a video or an image"):
        fresh.predict("What is this?", **WITH_MASK, api_name="/chat")


def test_a_cancelled_job_frees_the_queue(runaway_app, tmp_path):
    runaway = Client(runaway_app.url, verbose=False)
    video = handle_file(str(long_video(tmp_path / "long.mp4")))
    job = runaway.submit("Where is it?", video, max_new_tokens=16, api_name="/chat")
    while job.status().code != Status.ITERATING:  # streaming progress: the turn runs
        time.sleep(0.05)
    job.cancel()
    assert seconds_until_idle(runaway_app) < 2.0
    other = handle_file(str(long_video(tmp_path / "short.mp4", frames=4)))
    start = time.perf_counter()
    answer, tracks, *_ = runaway.predict("Where?", other, max_new_tokens=16, api_name="/chat")
    assert len(tracks) == MAX_TRACKS and answer.endswith("…")
    assert time.perf_counter() - start < 30  # not stuck behind the cancelled job
