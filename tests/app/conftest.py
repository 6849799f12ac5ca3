"""A chat app server on the golden tiny model, started per test module and stopped after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, golden_model_args

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def app_url(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of ``app.py`` serving the golden tiny model with small frame settings."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "server.log"
    command = [
        sys.executable,
        "app.py",
        *golden_model_args(golden_dir, dense=1),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"app.py exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"app.py did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")
