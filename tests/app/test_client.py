"""The running app through gradio_client: the ``chat`` and ``segment`` endpoints (plain text,
named and typed), two turns on one video, and a cancelled job that frees the queue."""

from __future__ import annotations

import io
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
# sparse, dense, max new tokens, temperature, always answer with a mask, refine with SAM 2
WITH_MASK = (4, 1, 8, 0.0, True, False)
GENERATE = (4, 1, 8, 0.0, False, False)
OUTPUTS = ["answer", "tracks", "overlay", "masks_zip", "notices"]


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


def test_the_api_has_named_and_typed_parameters_and_outputs(client: Client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(api) == {"/chat", "/segment"}  # the UI's own events are private
    chat = api["/chat"]
    types = {p["parameter_name"]: p["python_type"]["type"] for p in chat["parameters"]}
    assert types["message"] == "str"
    assert {types[name] for name in ("frames_sparse", "frames_dense", "max_new_tokens")} == {"int"}
    assert [output["label"] for output in chat["returns"]] == OUTPUTS
    assert [output["label"] for output in api["/segment"]["returns"]] == OUTPUTS


def test_two_chat_turns_then_the_segment_api(client: Client):
    answer, tracks, overlay, masks_zip, notices = client.predict(
        "Where is the <TRK> star?", handle_file(VIDEO), *WITH_MASK, api_name="/chat"
    )
    assert answer == "Sure, <TRK>." and notices == []  # plain text, no HTML
    assert tracks == [{"track": 0, "color": "#ff2626", "masks": "masks/0/"}]
    assert (Path(overlay).suffix, Path(masks_zip).suffix) == (".mp4", ".zip")
    check_result(Path(overlay), Path(masks_zip), tracks=1)

    answer, tracks, *_ = client.predict("Is it moving?", None, *GENERATE, api_name="/chat")
    assert answer and "<span" not in answer and len(tracks) == answer.count("<TRK>")

    answer, tracks, overlay, masks_zip, _ = client.predict(
        handle_file(VIDEO), "Segment the dangerous object.", api_name="/segment"
    )
    assert answer == "Sure, <TRK>." and len(tracks) == 1
    check_result(Path(overlay), Path(masks_zip), tracks=1)


def test_a_turn_without_a_video_answers_with_a_message(client: Client):
    fresh = Client(client.src, verbose=False)
    with pytest.raises(AppError, match=r"No video yet\. Attach a video or an image"):
        fresh.predict("What is this?", None, *WITH_MASK, api_name="/chat")


def test_a_cancelled_job_frees_the_queue(runaway_app, tmp_path):
    runaway = Client(runaway_app.url, verbose=False)
    video = handle_file(str(long_video(tmp_path / "long.mp4")))
    job = runaway.submit("Where is it?", video, 4, 1, 16, 0.0, False, False, api_name="/chat")
    while job.status().code != Status.ITERATING:  # streaming progress: the turn runs
        time.sleep(0.05)
    job.cancel()
    assert seconds_until_idle(runaway_app) < 2.0
    other = handle_file(str(long_video(tmp_path / "short.mp4", frames=4)))
    start = time.perf_counter()
    answer, tracks, *_ = runaway.predict(
        "Where?", other, 4, 1, 16, 0.0, False, False, api_name="/chat"
    )
    assert len(tracks) == MAX_TRACKS and answer.endswith("…")
    assert time.perf_counter() - start < 30  # not stuck behind the cancelled job
