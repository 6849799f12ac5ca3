"""Sixteen users at once for a while (``VIDEOLISA_LOAD_SECONDS``, default 30): every answer is
right and about the user's own video, and the turn latency (p50, p95) and the server's memory
are printed for the docs (docs/robustness.md gives a 3-minute run's)."""

from __future__ import annotations

import os
import statistics
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.app_server import peak_memory

pytestmark = pytest.mark.slow

USERS = 16
SECONDS = float(os.environ.get("VIDEOLISA_LOAD_SECONDS", "30"))
WITH_MASK = {"frames_sparse": 4, "frames_dense": 1, "max_new_tokens": 8, "always_mask": True}
MEMORY_GROWTH = 600 * 2**20  # of the server's resident memory during the run


@dataclass
class User:
    video: Path
    frames: int
    latencies: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def run(self, url: str, deadline: float) -> None:
        try:
            client = Client(url, verbose=False)
            video = handle_file(str(self.video))
            while time.monotonic() < deadline:
                start = time.perf_counter()
                first = not self.latencies
                answer, tracks, _overlay, masks_zip, _notices = client.predict(
                    "Where is the square?", video if first else None, **WITH_MASK,
                    api_name="/chat",
                )  # fmt: skip
                self.latencies.append(time.perf_counter() - start)
                with zipfile.ZipFile(masks_zip) as archive:
                    masks = [n for n in archive.namelist() if n.startswith("masks/0/")]
                if answer != "Sure, <TRK>." or len(tracks) != 1 or len(masks) != self.frames:
                    self.wrong.append(f"{answer!r}, {len(tracks)} tracks, {len(masks)} masks")
        except BaseException as error:  # reported by the test
            self.error = error


def test_sixteen_users_for_a_while(app_server, square_video):
    users = [
        User(square_video(f"user{i}.mp4", 3 + i % 7, 32 + 4 * i, 48, corner=(i, 2 * i)), 3 + i % 7)
        for i in range(USERS)
    ]
    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=u.run, args=(app_server.url, deadline)) for u in users]
    start = time.perf_counter()
    with peak_memory(app_server.process.pid) as memory:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 600)
    seconds = time.perf_counter() - start
    assert [u.error for u in users if u.error] == []
    assert [w for u in users for w in u.wrong] == []  # each got its own video's masks
    latencies = sorted(x for u in users for x in u.latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"\nload: {USERS} users for {seconds:.0f} s, {len(latencies)} turns, all right; turn "
        f"latency p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s; server RSS "
        f"{memory.before / 2**20:.0f} MiB before, peak {memory.peak / 2**20:.0f} MiB"
    )
    assert memory.growth < MEMORY_GROWTH
