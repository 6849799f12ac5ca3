"""Chat app servers: the golden tiny model (per test module) and the runaway test model (one for
the package)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.runaway_model import MAX_TRACKS, runaway_checkpoint
from tests.app_server import AppServer, running_app
from tests.conftest import golden_model_args


@pytest.fixture(scope="module")
def app_url(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of ``app.py`` serving the golden tiny model with small frame settings."""
    root = tmp_path_factory.mktemp("app")
    with running_app(root, golden_model_args(golden_dir, dense=1)) as server:
        yield server.url


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
