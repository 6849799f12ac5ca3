"""The command line turns user-caused failures into one line and exit code 2."""

from __future__ import annotations

import pytest
import torch

from videolisa import cli
from videolisa.cli import segment


@pytest.mark.parametrize(
    "error",
    [MemoryError(), torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")],
)
def test_out_of_memory_is_a_message(monkeypatch, capsys, error):
    def run(_args):
        raise error

    monkeypatch.setattr(segment, "run", run)
    args = ["segment", "--video", "v.mp4", "--prompt", "q", "--out", "o"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Out of memory") and "--load-4bit" in err and err.count("\n") == 1


def test_other_runtime_errors_are_bugs_and_keep_their_traceback(monkeypatch):
    def run(_args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(segment, "run", run)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli.main(["segment", "--video", "v.mp4", "--prompt", "q", "--out", "o"])


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "--video", "v.mp4", "--prompt", "q", "--out", "o"],
        ["bench", "--dry-run"],
        ["eval", "--benchmark", "toyworld", "--out", "o"],
    ],
)
def test_sam_batch_below_one_is_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--sam-batch", "0"])
    assert exit_info.value.code == 2
    assert "argument --sam-batch: must be at least 1, got 0" in capsys.readouterr().err
