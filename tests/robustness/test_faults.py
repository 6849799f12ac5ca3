"""Faults in the middle of a turn: running out of memory while encoding or generating, and a
render that dies half-way. Each ends the turn with a readable message and no result file; the
next turn works."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

import videolisa.inference.pipeline as pipeline_module
import videolisa.outputs.writer as outputs_module
from videolisa.chat.events import TurnDone, TurnFailed
from videolisa.chat.messages import INTERNAL_ERROR_MESSAGE
from videolisa.chat.settings import TurnSettings
from videolisa.cli import main
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.modeling.videolisa import VideoLISAModel

FORCED = TurnSettings(EncodeSettings(4, 1), always_mask=True)
GENERATE = TurnSettings(EncodeSettings(4, 1), GenerationSettings(max_new_tokens=4))


def out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError()  # as PyTorch raises it; the message may be empty


def turn(service, conversation, question="Where is it?", settings=FORCED):
    return list(service.run_turn(conversation, question, settings))[-1]


def test_out_of_memory_while_encoding(service, conversation, monkeypatch, caplog):
    monkeypatch.setattr(VideoLISAModel, "sam_image_embeddings", out_of_memory)
    assert turn(service, conversation) == TurnFailed(
        "Ran out of memory while reading and encoding 6 frames of 56×40. Use a shorter or "
        "smaller video, or fewer frames (Settings)."
    )
    assert "--load-4bit" in caplog.text  # advice for the operator goes to the log
    assert len(service.videos.cache) == 0 and conversation.session.history == []
    monkeypatch.undo()
    assert isinstance(turn(service, conversation), TurnDone)


def test_out_of_memory_while_generating(service, conversation, monkeypatch):
    assert isinstance(turn(service, conversation), TurnDone)
    history = list(conversation.session.history)
    monkeypatch.setattr(pipeline_module, "generate_steps", out_of_memory)
    failed = turn(service, conversation, "And now?", GENERATE)
    assert isinstance(failed, TurnFailed) and "while writing the answer" in failed.message
    assert conversation.session.history == history
    monkeypatch.undo()
    assert isinstance(turn(service, conversation, "And now?", GENERATE), TurnDone)


def test_out_of_memory_on_the_command_line(golden_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(VideoLISAModel, "sam_image_embeddings", out_of_memory)
    tower = golden_dir / "clip-vit-tiny-patch14-336"
    args = ["segment", "--model", str(golden_dir), "--vision-tower", str(tower)]
    args += ["--video", str(golden_dir / "frames"), "--prompt", "Where?", "--out", str(tmp_path)]
    assert main([*args, "--frames-sparse", "4", "--frames-dense", "2"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]  # after weight loading's progress bar
    assert error.startswith("error: Out of memory")
    assert "--load-4bit" in error and "--max-frames" in error


def dying_render(frames, *args, **kwargs) -> Iterator[np.ndarray]:
    """The first overlay frame, then a failure (a full disk, a killed encoder)."""
    yield render_overlay(frames[:1], *[a[:, :1] for a in args[:1]], *args[1:], **kwargs)[0]
    raise OSError(28, "No space left on device")


render_overlay = outputs_module.render_overlay


def test_an_interrupted_render_leaves_no_result(service, conversation, monkeypatch):
    monkeypatch.setattr(outputs_module, "render_overlay", dying_render)
    assert turn(service, conversation) == TurnFailed(INTERNAL_ERROR_MESSAGE, "Sure, <TRK>.")
    assert list(conversation.workdir.iterdir()) == []  # no overlay, masks or temporary file
    assert len(conversation.session.history) == 2  # the answer's text was said
    monkeypatch.undo()
    done = turn(service, conversation)
    assert isinstance(done, TurnDone) and done.overlay.is_file() and done.masks_zip.is_file()


def test_an_interrupted_render_on_the_command_line(golden_dir, tmp_path, monkeypatch, capsys):
    """A disk that fills up half-way: one line saying so, exit 2, nothing half-written."""
    monkeypatch.setattr(outputs_module, "render_overlay", dying_render)
    tower = golden_dir / "clip-vit-tiny-patch14-336"
    args = ["segment", "--model", str(golden_dir), "--vision-tower", str(tower)]
    args += ["--video", str(golden_dir / "frames"), "--prompt", "Where?", "--out", str(tmp_path)]
    assert main([*args, "--frames-sparse", "4", "--frames-dense", "2"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: Writing the result to") and "the disk is full" in error
    assert not (tmp_path / "overlay.mp4").exists() and not (tmp_path / "result.json").exists()
    assert not (tmp_path / "masks").exists()
    assert not list(tmp_path.glob(".*.part"))
