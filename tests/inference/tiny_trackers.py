"""Tiny randomly initialised trackers saved as checkpoint folders: SAM 2, EdgeTAM and SAM 3's
tracker run in tests without a download. Their configs are ``bench --random-init --scale
tiny``'s (videolisa.profiling.random_tracker)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    EdgeTamVideoModel,
    Sam2VideoModel,
    Sam2VideoProcessor,
    Sam3TrackerVideoModel,
    Sam3TrackerVideoProcessor,
)

from videolisa.profiling.random_tracker import (
    IMAGE,
    SAM3_IMAGE,
    tiny_edgetam_config,
    tiny_sam2_config,
    tiny_sam3_config,
    tracker_processor,
)


def _save(model, processor_class, size: int, folder: Path) -> Path:
    model.save_pretrained(folder)
    tracker_processor(processor_class, size).save_pretrained(folder)
    return folder


def tiny_sam2_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 2 video model and its processor to ``folder``."""
    torch.manual_seed(seed)
    return _save(Sam2VideoModel(tiny_sam2_config()), Sam2VideoProcessor, IMAGE, folder)


def tiny_edgetam_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny EdgeTAM video model and SAM 2's processor to ``folder``."""
    torch.manual_seed(seed)
    return _save(EdgeTamVideoModel(tiny_edgetam_config()), Sam2VideoProcessor, IMAGE, folder)


def tiny_sam3_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 3 tracker video model and its processor to ``folder``."""
    torch.manual_seed(seed)
    model = Sam3TrackerVideoModel(tiny_sam3_config())
    return _save(model, Sam3TrackerVideoProcessor, SAM3_IMAGE, folder)


TINY_TRACKERS = {
    "sam2": tiny_sam2_checkpoint,
    "edgetam": tiny_edgetam_checkpoint,
    "sam3": tiny_sam3_checkpoint,
}
