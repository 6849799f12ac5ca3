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
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from tests.app_server import peak_memory
from videolisa.video import read_video

pytestmark = pytest.mark.slow

WITH_MASK = {"frames_sparse": 4, "frames_dense": 1, "max_new_tokens": 8, "always_mask": True}
USERS = 8
PRIVATE_PROMPT = "Where is the quokka-7f3a9c hiding?"


@dataclass(frozen=True)
class Reply:
    """What the ``/chat`` endpoint returns."""

    answer: str
    tracks: list
    overlay: str | None
    masks_zip: str | None
    notices: list

    @property
    def files(self) -> list[Path]:
        return [Path(path) for path in (self.overlay, self.masks_zip) if path]


def ask(client: Client, video: Path | None, question: str) -> Reply:
    """One chat turn through the API."""
    attached = handle_file(str(video)) if video else None
    return Reply(*client.predict(question, attached, **WITH_MASK, api_name="/chat"))


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
        with pytest.raises(AppError, match=reason) as refused:
            ask(client, media(name), "Where is the square?")
        assert str(app_server.tmp) not in str(refused.value)  # no server path
    answer = ask(client, media("one_frame.mp4"), "Where is the square?")
    overlay, masks_zip = answer.files
    assert read_video(overlay).frames.shape == (1, 48, 64, 3)
    assert [mask.shape for mask in zip_masks(masks_zip)] == [(48, 64)]
    with pytest.raises(AppError, match="keeps its previous video"):
        ask(client, media("text.mp4"), "Where is the square?")
    follow_up = ask(client, None, "And now?")  # the same conversation goes on
    assert len(follow_up.files) == 2
    assert "Traceback" not in app_server.log.read_text()  # user errors are one log line
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
        ask(client, big, "Where?")
    print(f"\nclient: {type(refused.value).__name__}: {refused.value}")
    with big.open("rb") as upload:
        response = httpx.post(f"{app_server.url}/gradio_api/upload", files={"files": upload})
    assert response.status_code == 413, response.text
    assert not [path for path in files_under(app_server.tmp) if path.stat().st_size >= 2**20]
    assert app_server.process.poll() is None


def test_prompts_and_file_names_are_not_logged_and_prompts_not_written(client, app_server, media):
    started = time.time()
    answer = ask(client, media("vfr.mp4"), PRIVATE_PROMPT)
    assert len(answer.files) == 2
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
    answer: Reply | None = None
    error: BaseException | None = None

    def run(self, url: str) -> None:
        try:
            client = Client(url, verbose=False)
            video = handle_file(str(self.video))
            job = client.submit("Where is the square?", video, **WITH_MASK, api_name="/chat")
            while not job.done():
                update = job.status()
                self.statuses.append((update.code, update.rank))
                time.sleep(0.05)
            self.answer = Reply(*job.result())
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
    threads = [threading.Thread(target=user.run, args=(app_server.url,)) for user in users]
    start = time.perf_counter()
    with peak_memory(app_server.process.pid) as memory:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    seconds = time.perf_counter() - start

    for user in users:
        assert user.error is None, user.error
        overlay, masks_zip = user.answer.files
        count, height, width = user.shape
        assert read_video(overlay).frames.shape == (count, height, width, 3)
        masks = zip_masks(masks_zip)
        assert len(masks) == count and {mask.shape for mask in masks} == {(height, width)}
    queued = [rank for user in users for code, rank in user.statuses if code == Status.IN_QUEUE]
    assert queued and any(rank for rank in queued), "no queue position was ever reported"
    print(
        f"\nload: {USERS} users, {USERS / seconds * 60:.1f} turns/min, {seconds:.1f} s; "
        f"server RSS {memory.before / 2**20:.0f} MiB before, peak {memory.peak / 2**20:.0f} MiB "
        f"(+{memory.growth / 2**20:.0f} MiB)"
    )
    assert memory.growth < 1024**3, "8 tiny videos took over 1 GiB"
