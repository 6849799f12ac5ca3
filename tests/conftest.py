"""Shared fixtures: the golden record of the published implementation (../shared/golden)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two threads on an idle machine; one where another process keeps a core busy (a training run):
# PyTorch's threads then wait on each other and small models run up to 30x slower.
torch.set_num_threads(int(os.environ.get("VIDEOLISA_TEST_THREADS", "2")))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GOLDEN = PROJECT_ROOT.parent / "shared" / "golden"
GOLDEN_TINY = GOLDEN / "tiny"
GOLDEN_CLIP = GOLDEN_TINY / "clip-vit-tiny-patch14-336"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def golden_model_args(golden_dir: Path, dense: int = 2) -> list[str]:
    """Command-line options that run the golden tiny checkpoint with 4 sparse frames."""
    return [
        "--model",
        str(golden_dir),
        "--vision-tower",
        str(golden_dir / "clip-vit-tiny-patch14-336"),
        "--frames-sparse",
        "4",
        "--frames-dense",
        str(dense),
    ]


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN_TINY.is_dir():
        pytest.skip(f"golden record not found at {GOLDEN} (it sits beside the project in CI)")
    return GOLDEN_TINY


@pytest.fixture(scope="session")
def golden_pipeline(golden_dir):
    from videolisa.inference.pipeline import VideoLISAPipeline

    return VideoLISAPipeline.from_pretrained(golden_dir, dtype="float32", device="cpu")


@pytest.fixture
def service(golden_pipeline, tmp_path):
    """A chat service on the golden pipeline, its files under ``tmp_path``."""
    from videolisa.chat.service import ChatService

    return ChatService(golden_pipeline, workdir_root=tmp_path)


@pytest.fixture
def conversation(service, golden_dir):
    """A conversation with the golden frames attached, closed after the test."""
    conversation = service.conversations.open()
    conversation.attach(golden_dir / "frames")
    yield conversation
    conversation.close()


@pytest.fixture
def encode_calls(monkeypatch) -> list[dict]:
    """The fields of the ``EncodeSettings`` of every video the pipeline encodes in the test
    (``VideoLISAPipeline.encode_steps``, behind ``encode`` too; the calls still run)."""
    from dataclasses import asdict

    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.inference.pipeline import VideoLISAPipeline

    calls: list[dict] = []
    encode_steps = VideoLISAPipeline.encode_steps

    def recording_encode_steps(self, frames, settings=None):
        calls.append(asdict(settings or EncodeSettings()))
        return encode_steps(self, frames, settings)

    monkeypatch.setattr(VideoLISAPipeline, "encode_steps", recording_encode_steps)
    return calls
