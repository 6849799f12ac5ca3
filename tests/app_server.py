"""``app.py`` launched as users launch it, on a free port, for tests that talk to it over HTTP
(gradio_client, a browser, raw requests)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import PROJECT_ROOT, free_port

STARTUP_SECONDS = 120


@dataclass(frozen=True)
class AppServer:
    """A running ``app.py``: its URL, process, log file and temporary folder (its ``TMPDIR``:
    Gradio's uploads and the chat's result files all go there)."""

    url: str
    process: subprocess.Popen
    log: Path
    tmp: Path


@contextmanager
def running_app(root: Path, app_args: list[str], tmp: Path | None = None) -> Iterator[AppServer]:
    """Start ``python app.py *app_args`` with its log under ``root`` and its ``TMPDIR`` there
    (or ``tmp``), wait until it answers HTTP, and stop it on exit. Fails the test with the
    log's tail if it does not start."""
    tmp = tmp or root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    port = free_port()
    command = [sys.executable, "app.py", *app_args, "--host", "127.0.0.1", "--port", str(port)]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TMPDIR": str(tmp),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("GRADIO_TEMP_DIR", None)
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = AppServer(f"http://127.0.0.1:{port}", process, log, tmp)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: AppServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            pytest.fail(f"app.py exited with {code}:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"app.py did not start in {STARTUP_SECONDS} s:\n{server.log.read_text()[-3000:]}")


@dataclass
class MemoryPeak:
    """Resident memory of a process: at the start, and the largest seen since."""

    before: int
    peak: int = 0

    @property
    def growth(self) -> int:
        return self.peak - self.before


@contextmanager
def peak_memory(pid: int, interval: float = 0.05) -> Iterator[MemoryPeak]:
    """Sample the resident memory of process ``pid`` every ``interval`` seconds while the block
    runs."""
    process = psutil.Process(pid)
    memory = MemoryPeak(before=process.memory_info().rss)
    memory.peak = memory.before
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            memory.peak = max(memory.peak, process.memory_info().rss)
            time.sleep(interval)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield memory
    finally:
        done.set()
        sampler.join()
