"""Loading a model never runs code from the checkpoint: a ``pytorch_model.bin`` whose pickle
would run code is refused with one line naming the file, and the code does not run."""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path

import pytest
import torch

from videolisa.cli import main
from videolisa.errors import CheckpointError
from videolisa.modeling.checkpoint import load_model

METADATA = [
    "config.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "added_tokens.json",
    "special_tokens_map.json",
]


class WritesAFile:
    """Unpickling this opens (creates) ``marker``: code execution, made visible."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


@pytest.fixture
def hostile_checkpoint(golden_dir, tmp_path) -> tuple[Path, Path]:
    """A copy of the golden tiny checkpoint whose weights are a code-running pickle, and the
    marker file that pickle would create."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    for name in METADATA:
        shutil.copy(golden_dir / name, folder / name)
    marker = tmp_path / "code-ran"
    weights = {"model.embed_tokens.weight": torch.zeros(2, 2), "payload": WritesAFile(marker)}
    torch.save(weights, folder / "pytorch_model.bin")
    return folder, marker


def test_a_code_running_pickle_is_refused(hostile_checkpoint, golden_dir):
    folder, marker = hostile_checkpoint
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin: it holds more than tensors"):
        load_model(folder, vision_tower=str(golden_dir / "clip-vit-tiny-patch14-336"))
    assert not marker.exists()


def test_the_command_line_says_so_in_one_line(hostile_checkpoint, golden_dir, tmp_path, capsys):
    folder, marker = hostile_checkpoint
    tower = golden_dir / "clip-vit-tiny-patch14-336"
    args = ["segment", "--model", str(folder), "--vision-tower", str(tower)]
    args += ["--video", str(golden_dir / "frames"), "--prompt", "Where?", "--out", str(tmp_path)]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"error: Refusing to load {folder / 'pytorch_model.bin'}")
    assert "builtins.open" in error or "io.open" in error
    assert not marker.exists()
