"""Nothing left behind: the app's folder (results, uploads, Gradio's copies) goes when the server
gets SIGTERM, a killed server's goes at the next start, and after many turns with every session
closed the folder is back to its size at start and the server's memory within a bound."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from gradio_client import Client, handle_file

from tests.app_server import running_app
from tests.conftest import golden_model_args
from tests.media import encode_video, square_frames
from videolisa.outputs import folder_bytes

pytestmark = pytest.mark.slow

SESSIONS, TURNS = 20, 10  # 200 turns
FOLDER_SLACK = 2**20  # the folder is back to its size at start within this
# The server's resident memory once every session is closed, above where it was after its
# first turn (measured: +30 to +60 MiB on this machine; the bound leaves room for allocator
# noise). The README states this bound.
MEMORY_BOUND = 150 * 2**20


def app_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("videolisa-app-*"))


def test_sigterm_removes_the_folder_and_a_killed_servers_goes_at_the_next_start(
    golden_dir, tmp_path
):
    tmp = tmp_path / "tmp"
    options = golden_model_args(golden_dir, dense=1)
    with running_app(tmp_path / "first", options, tmp=tmp) as first:
        (killed,) = app_folders(tmp)
        first.process.kill()  # as the kernel's out-of-memory killer would: no clean-up
        first.process.wait()
    assert killed.is_dir()
    with running_app(tmp_path / "second", options, tmp=tmp) as second:
        folders = app_folders(tmp)
        assert len(folders) == 1 and folders[0] != killed and not killed.exists()
        second.process.send_signal(signal.SIGTERM)
        second.process.wait(timeout=30)
    assert app_folders(tmp) == []


def test_after_200_turns_with_every_session_closed_nothing_stays(golden_dir, tmp_path):
    options = [*golden_model_args(golden_dir, dense=1), "--session-ttl", "20"]
    videos = [
        encode_video(tmp_path / f"user{i}.mp4", square_frames(3 + i % 5, 32 + 4 * i, 48))
        for i in range(SESSIONS)
    ]
    with running_app(tmp_path / "app", options) as server:
        (folder,) = app_folders(server.tmp)
        process = psutil.Process(server.process.pid)
        at_start = folder_bytes(folder)
        first = Client(server.url, verbose=False)
        first.predict("Where?", handle_file(str(videos[0])), always_mask=True, api_name="/chat")
        memory_at_start = process.memory_info().rss
        errors: list[BaseException] = []

        # connected one after another (twenty clients fetching the page's config at the same
        # instant can time out on a busy 2-core machine), then asking all at once
        clients = [Client(server.url, verbose=False) for _ in range(SESSIONS)]

        def user(index: int) -> None:
            try:
                client = clients[index]
                for turn in range(TURNS):
                    video = handle_file(str(videos[index])) if turn == 0 else None
                    answer, tracks, *_ = client.predict(
                        "Where is the square?", video, always_mask=True, api_name="/chat"
                    )
                    assert answer == "Sure, <TRK>." and len(tracks) == 1
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=user, args=(i,)) for i in range(SESSIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert errors == []
        during = folder_bytes(folder)
        deadline = time.monotonic() + 90
        while folder_bytes(folder) > at_start + FOLDER_SLACK and time.monotonic() < deadline:
            time.sleep(1)  # the sessions expire after --session-ttl 20
        after = folder_bytes(folder)
        memory_after = process.memory_info().rss
    print(
        f"\n200 turns: app folder {at_start / 2**20:.2f} MiB at start, {during / 2**20:.2f} "
        f"with 20 sessions open, {after / 2**20:.2f} once closed; RSS "
        f"{memory_at_start / 2**20:.0f} -> {memory_after / 2**20:.0f} MiB"
    )
    assert during > at_start + FOLDER_SLACK  # the results were there...
    assert after <= at_start + FOLDER_SLACK  # ... and are gone with their sessions
    assert memory_after - memory_at_start < MEMORY_BOUND
