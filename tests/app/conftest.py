"""Chat app servers: the golden tiny model (per test module) and the runaway test model (one for
the package)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.runaway_model import MAX_TRACKS, runaway_checkpoint
from tests.app_server import AppServer, running_app
from tests.conftest import golden_model_args
from tests.inference.tiny_trackers import tiny_sam2_checkpoint


@pytest.fixture(scope="module")
def golden_app(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """``app.py`` serving the golden tiny model with small frame settings, and a tiny random
    SAM 2 (:mod:`tests.inference.tiny_trackers`) for "Refine over time"."""
    root = tmp_path_factory.mktemp("app")
    sam2 = tiny_sam2_checkpoint(root / "tiny-sam2")
    options = [*golden_model_args(golden_dir, dense=1), "--refine-model", str(sam2)]
    with running_app(root, options) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(golden_app: AppServer) -> str:
    return golden_app.url


@pytest.fixture(scope="package")
def bundled_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """``python app.py`` as the Quick start runs it: the bundled toy-world model."""
    with running_app(tmp_path_factory.mktemp("bundled"), []) as server:
        yield server


@pytest.fixture(scope="package")
def runaway_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """``app.py`` serving the runaway test model (:mod:`tests.app.runaway_model`: every answer
    is ``<TRK>`` after ``<TRK>``, encoding and mask decoding take seconds), with
    ``--sam-batch 1`` (steps of one frame) and ``--max-tracks 3``."""
    root = tmp_path_factory.mktemp("runaway")
    model = runaway_checkpoint(root / "model")
    options = ["--model", str(model), "--sam-batch", "1", "--max-tracks", str(MAX_TRACKS)]
    options += ["--frames-sparse", "4", "--frames-dense", "1"]
    with running_app(root, options) as server:
        yield server
