"""A chat app server on the golden tiny model, started per test module and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_server import running_app
from tests.conftest import golden_model_args


@pytest.fixture(scope="module")
def app_url(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of ``app.py`` serving the golden tiny model with small frame settings."""
    root = tmp_path_factory.mktemp("app")
    with running_app(root, golden_model_args(golden_dir, dense=1)) as server:
        yield server.url
