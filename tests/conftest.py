"""Shared fixtures: the golden record of the published implementation (../shared/golden)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GOLDEN = PROJECT_ROOT.parent / "shared" / "golden"
GOLDEN_TINY = GOLDEN / "tiny"
GOLDEN_CLIP = GOLDEN_TINY / "clip-vit-tiny-patch14-336"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN_TINY.is_dir():
        pytest.skip(f"golden record not found at {GOLDEN} (it sits beside the project in CI)")
    return GOLDEN_TINY


@pytest.fixture(scope="session")
def golden_pipeline(golden_dir):
    from videolisa.inference.pipeline import VideoLISAPipeline

    return VideoLISAPipeline.from_pretrained(golden_dir, dtype="float32", device="cpu")
