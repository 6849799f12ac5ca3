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
