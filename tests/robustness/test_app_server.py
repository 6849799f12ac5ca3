"""The launched app (golden tiny model) under hostile use: bad uploads, file-route probing,
oversized uploads, privacy of prompts, and eight users at once."""

from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

from videolisa.video import read_video

pytestmark = pytest.mark.slow

# sparse, dense, max new tokens, temperature, always answer with a mask, opacity
WITH_MASK = (4, 1, 8, 0.0, True, 0.5)
USERS = 8
PRIVATE_PROMPT = "Where is the quokka-7f3a9c hiding?"


def texts(message: dict) -> list[str]:
    return [part["text"] for part in message["content"] if part["type"] == "text"]


def files(message: dict) -> list[Path]:
    return [Path(part["file"]) for part in message["content"] if part["type"] == "file"]


def ask(client: Client, video: Path | None, question: str) -> dict:
    """One chat turn; the assistant's message."""
    attached = [handle_file(str(video))] if video else []
    client.predict({"text": question, "files": attached}, api_name="/add_message")
    return client.predict(*WITH_MASK, api_name="/respond")[-1]


def zip_masks(masks_zip: Path) -> list[np.ndarray]:
    with zipfile.ZipFile(masks_zip) as archive:
        names = sorted(name for name in archive.namelist() if name.startswith("masks/0/"))
        return [np.asarray(Image.open(io.BytesIO(archive.read(name)))) for name in names]


@pytest.fixture(scope="module")
def client(app_server) -> Client:
    return Client(app_server.url, verbose=False)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ------------------------------------------------------------------------- bad media
def test_bad_uploads_leave_the_server_and_the_session_working(client, app_server, media):
    for name, reason in [
        ("text.mp4", "it is not a video or image"),
        ("audio_only.mp4", "no video stream"),
    ]:
        answer = ask(client, media(name), "Where is the square?")
        assert any(reason in text for text in texts(answer)), texts(answer)
    answer = ask(client, media("one_frame.mp4"), "Where is the square?")
    overlay, masks_zip = files(answer)
    assert read_video(overlay).frames.shape == (1, 48, 64, 3)
    assert [mask.shape for mask in zip_masks(masks_zip)] == [(48, 64)]
    follow_up = ask(client, None, "And now?")  # the same conversation goes on
    assert len(files(follow_up)) == 2
    assert app_server.process.poll() is None


# ------------------------------------------------------------------- files and secrets
@pytest.mark.parametrize(
    "route",
    [
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=../../etc/passwd",
        "/gradio_api/file=..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=/proc/self/environ",
        "/file=/etc/passwd",
        "/gradio_api/file={root}/app.py",
        "/gradio_api/file={root}/../shared/golden/tiny/config.json",
    ],
)
def test_the_file_route_serves_no_other_files(app_server, route):
    root = Path(__file__).resolve().parents[2]
    status, body = http_get(app_server.url + route.format(root=root))
    assert status >= 400, f"{route} answered {status}"
    assert b"root:" not in body and b"import" not in body


def test_uploads_over_max_file_size_are_refused(client, app_server, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(2 * 1024 * 1024))  # the app was started with 1mb
    with pytest.raises(Exception, match=r"(?i)too large|413|exceeds") as refused:
        client.predict(
            {"text": "Where?", "files": [handle_file(str(big))]}, api_name="/add_message"
        )
    print(f"\nclient: {type(refused.value).__name__}: {refused.value}")
    with big.open("rb") as upload:
        response = httpx.post(f"{app_server.url}/gradio_api/upload", files={"files": upload})
    assert response.status_code == 413, response.text
    assert not [path for path in files_under(app_server.tmp) if path.stat().st_size >= 2**20]
    assert app_server.process.poll() is None


def test_prompts_and_file_names_are_not_logged_and_prompts_not_written(client, app_server, media):
    started = time.time()
    answer = ask(client, media("vfr.mp4"), PRIVATE_PROMPT)
    assert len(files(answer)) == 2
    log = app_server.log.read_bytes()
    assert PRIVATE_PROMPT.encode() not in log
    assert b"vfr" not in log  # nor the uploaded file's name
    project = Path(__file__).resolve().parents[2]
    written = [*files_under(app_server.tmp), *files_under(project, since=started)]
    assert written, "the turn wrote its results somewhere"
    assert [path for path in written if PRIVATE_PROMPT.encode() in path.read_bytes()] == []


def files_under(root: Path, since: float = 0.0) -> list[Path]:
    """Files under ``root`` changed after ``since`` (virtualenv, git and training runs aside)."""
    skip = {".venv", ".git", "runs", "__pycache__", ".hypothesis", ".ruff_cache"}
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in skip]
        for name in names:
            path = Path(folder) / name
            if path.is_file() and path.stat().st_mtime >= since:
                found.append(path)
    return found


# ---------------------------------------------------------------------------- load
@dataclass
class User:
    """One of the concurrent users: their own video, and what they got back."""

    video: Path
    shape: tuple[int, int, int]  # frames, height, width
    statuses: list[tuple[Status, int | None]] = field(default_factory=list)
    answer: dict | None = None
    error: BaseException | None = None

    def run(self, url: str) -> None:
        try:
            client = Client(url, verbose=False)
            message = {"text": "Where is the square?", "files": [handle_file(str(self.video))]}
            client.predict(message, api_name="/add_message")
            job = client.submit(*WITH_MASK, api_name="/respond")
            while not job.done():
                update = job.status()
                self.statuses.append((update.code, update.rank))
                time.sleep(0.05)
            self.answer = job.result()[-1]
        except BaseException as error:  # reported by the test
            self.error = error


def test_eight_users_at_once(app_server, square_video):
    """Eight sessions, each with its own video (sizes and lengths differ): each gets the masks
    of its own video, some wait in the queue, and the server's memory stays bounded."""
    users = []
    for index in range(USERS):
        shape = (3 + index, 32 + 8 * index, 48 + 4 * index)
        video = square_video(f"user{index}.mp4", *shape, corner=(2 * index, 3 * index))
        users.append(User(video, shape))
    server = psutil.Process(app_server.process.pid)
    before = server.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    threads = [threading.Thread(target=user.run, args=(app_server.url,)) for user in users]
    start = time.perf_counter()
    sampler.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()

    for user in users:
        assert user.error is None, user.error
        overlay, masks_zip = files(user.answer)
        count, height, width = user.shape
        assert read_video(overlay).frames.shape == (count, height, width, 3)
        masks = zip_masks(masks_zip)
        assert len(masks) == count and {mask.shape for mask in masks} == {(height, width)}
    queued = [rank for user in users for code, rank in user.statuses if code == Status.IN_QUEUE]
    assert queued and any(rank for rank in queued), "no queue position was ever reported"
    growth = peak[0] - before
    print(
        f"\nload: {USERS} users, {USERS / seconds * 60:.1f} turns/min, {seconds:.1f} s; "
        f"server RSS {before / 2**20:.0f} MiB before, peak {peak[0] / 2**20:.0f} MiB "
        f"(+{growth / 2**20:.0f} MiB)"
    )
    assert growth < 1024**3, "8 tiny videos took over 1 GiB"
