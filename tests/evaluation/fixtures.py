"""Helpers shared by the ``python -m videolisa eval`` tests: the golden tiny checkpoint's options
and video, running the command, and writing frames and masks as the benchmarks store them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import golden_model_args
from videolisa.cli import main


def golden_frames(golden_dir: Path) -> np.ndarray:
    """The golden video: (6, 40, 56, 3) uint8."""
    paths = sorted((golden_dir / "frames").glob("*.png"))
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def golden_args(golden_dir: Path) -> list[str]:
    return [*golden_model_args(golden_dir), "--device", "cpu", "--dtype", "float32"]


def run_eval(golden_dir: Path, benchmark: str, data: Path, out: Path, *extra: str) -> dict:
    """``python -m videolisa eval`` on the golden checkpoint; its summary.json."""
    argv = ["eval", *golden_args(golden_dir), "--benchmark", benchmark]
    assert main([*argv, "--data", str(data), "--out", str(out), *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def write_video(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[str]:
    """``folder/<name>.jpg`` per frame, named ``00000``, ``00001``, ... unless ``names`` given."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{t:05d}" for t in range(len(frames))]
    for name, frame in zip(names, frames, strict=True):
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=95)
    return names


def box(shape: tuple[int, int], top: int, left: int, height: int, width: int) -> np.ndarray:
    """An (H, W) bool mask holding one rectangle."""
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def save_mask(path: Path, mask: np.ndarray, foreground: int = 255) -> None:
    """An 8-bit grey PNG: ``foreground`` inside the mask, 0 outside (``cv2.imwrite`` of
    ``mask * foreground``, as the published inference scripts write predictions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * foreground).save(path)
