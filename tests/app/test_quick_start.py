"""The README's Quick start as a new user runs it: ``python app.py`` with no options serves the
bundled toy-world model; ``python app.py --help`` answers at once."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

import pytest
from gradio_client import Client, handle_file

from tests.app_server import running_app
from tests.conftest import PROJECT_ROOT
from tests.media import encode_video, square_frames
from videolisa.chat.models import TOY_MODEL_NOTICE

README = PROJECT_ROOT / "README.md"
EXAMPLE = PROJECT_ROOT / "assets" / "examples" / "shapes.mp4"


def quick_start_commands() -> list[str]:
    """The shell commands of the README's "Quick start" code block."""
    section = README.read_text().split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_the_quick_start_installs_as_ci_does_then_runs_the_app():
    commands = quick_start_commands()
    assert commands[:3] == [
        "python3 -m venv .venv",
        ". .venv/bin/activate",
        "pip install -r requirements.txt",
    ]  # what .ci/run does
    assert commands[3:] == ["python app.py"]
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert all(command in ci for command in commands[:3])


@pytest.mark.slow
def test_python_app_py_serves_the_bundled_model_and_says_what_it_knows(tmp_path):
    grey = encode_video(tmp_path / "grey.mp4", square_frames(6, 48, 64))  # not the toy world
    with running_app(tmp_path / "app", []) as server:  # no --model: the Quick start's command
        with urllib.request.urlopen(f"{server.url}/config", timeout=10) as response:
            config = response.read().decode()
        client = Client(server.url, verbose=False)
        toy = client.predict(
            "Can you segment the star?", handle_file(str(EXAMPLE)), api_name="/chat"
        )
        other = client.predict("Where is the square?", handle_file(str(grey)), api_name="/chat")
    assert "videolisa-toy" in config and "knows coloured shapes" in config
    assert "/assets/models" not in config  # the model's name, not a server path
    assert toy[-1] == []  # notices
    assert other[-1] == ["New video: the conversation starts over.", TOY_MODEL_NOTICE]


def test_help_answers_at_once():
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0 and "--max-tracks" in done.stdout
    assert seconds < 2, f"python app.py --help took {seconds:.1f} s"
