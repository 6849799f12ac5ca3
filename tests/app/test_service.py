"""The chat service on the golden tiny pipeline: cache reuse, failed turns, result files."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from videolisa.chat.service import (
    INTERNAL_ERROR_MESSAGE,
    OUT_OF_MEMORY_MESSAGE,
    Notice,
    Progress,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnSettings,
)
from videolisa.chat.template import Message
from videolisa.errors import ConfigError
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.video_cache import content_key

FORCED = TurnSettings(num_sparse=4, num_dense=1, always_mask=True)
GENERATE = TurnSettings(num_sparse=4, num_dense=1, max_new_tokens=6)


@pytest.fixture
def frames(golden_dir):
    return golden_dir / "frames"


def run(service, conversation, question, settings=FORCED):
    events = list(service.run_turn(conversation, question, settings))
    assert isinstance(events[-1], TurnDone | TurnFailed)
    return events


def test_two_turns_on_one_video_encode_it_once(service, conversation, monkeypatch):
    calls = []
    encode = VideoLISAPipeline.encode

    def counting_encode(self, *args, **kwargs):
        calls.append(args)
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(VideoLISAPipeline, "encode", counting_encode)
    first = run(service, conversation, "Where is the object?")
    second = run(service, conversation, "And where is it now?", GENERATE)

    assert len(calls) == 1
    assert len(service.cache) == 1
    assert [p.stage for p in first if isinstance(p, Progress)][:2] == ["decode", "encode"]
    assert not any(isinstance(p, Progress) and p.stage == "encode" for p in second)
    done = first[-1]
    assert isinstance(done, TurnDone)
    assert (done.answer, done.num_tracks) == ("Sure, <TRK>.", 1)
    assert isinstance(second[-1], TurnDone)
    assert any(isinstance(event, TextDelta) for event in second[:-1])
    roles = [message.role for message in conversation.session.history]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_the_api_shares_the_cache_with_the_chat(service, conversation, frames, monkeypatch):
    run(service, conversation, "Where is the object?")
    monkeypatch.setattr(VideoLISAPipeline, "encode", lambda *a, **k: pytest.fail("re-encoded"))
    outcome = service.segment(conversation, frames, "Segment it.", FORCED)
    assert isinstance(outcome, TurnDone)
    assert outcome.overlay.is_file() and outcome.masks_zip.is_file()
    assert len(conversation.session.history) == 2  # the API call is not part of the chat


def test_masks_zip_has_the_layout_of_segment_out(service, conversation, frames):
    done = run(service, conversation, "Where is the object?")[-1]
    frame_files = sorted(frames.glob("*.png"))
    with zipfile.ZipFile(done.masks_zip) as archive:
        names = set(archive.namelist())
        expected = {f"masks/0/{index:05d}.png" for index in range(len(frame_files))}
        assert names == expected | {"result.json"}
        with archive.open("masks/0/00000.png") as png:
            mask = np.asarray(Image.open(png))
    height, width = np.asarray(Image.open(frame_files[0])).shape[:2]
    assert mask.shape == (height, width)
    assert set(np.unique(mask)) <= {0, 255}


def test_failed_turns_keep_the_history(service, conversation, golden_pipeline, monkeypatch):
    run(service, conversation, "Where is the object?")
    history = list(conversation.session.history)

    empty = run(service, conversation, "   ")[-1]
    too_long = run(service, conversation, "Go on.", TurnSettings(4, 1, max_new_tokens=10**6))[-1]

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(golden_pipeline, "answer", out_of_memory)
    oom = run(service, conversation, "Go on.")[-1]

    def bug(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(golden_pipeline, "answer", bug)
    crash = run(service, conversation, "Go on.")[-1]

    assert empty == TurnFailed("The question is empty. Type a question about the video.")
    assert isinstance(too_long, TurnFailed) and "context holds" in too_long.message
    assert oom == TurnFailed(OUT_OF_MEMORY_MESSAGE)
    assert crash == TurnFailed(INTERNAL_ERROR_MESSAGE)
    assert conversation.session.history == history


def test_bad_upload_and_missing_video_are_readable(service, tmp_path):
    conversation = service.open_conversation()
    missing = run(service, conversation, "Where?")[-1]
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video")
    conversation.attach(bad)
    broken = run(service, conversation, "Where?")[-1]
    assert missing == TurnFailed("No video yet. Attach a video or an image to your message.")
    assert isinstance(broken, TurnFailed) and "clip.mp4" in broken.message
    assert "Traceback" not in broken.message
    assert conversation.session.history == []


def test_history_trimmed_to_the_context_with_a_notice(
    service, conversation, frames, golden_pipeline, monkeypatch
):
    for question in ("Where is the object?", "Where is it now?", "And now?"):
        run(service, conversation, question)
    key = content_key(frames, FORCED.num_sparse, FORCED.num_dense, golden_pipeline.description)
    encoded = service.cache.get(key).encoded
    messages = conversation.session.history[-2:]
    ids = golden_pipeline.prompt_ids(
        [*messages, Message("user", "Last one?"), Message("assistant", "Sure, <TRK>.")], False
    )
    limit = golden_pipeline.sequence_length(ids, encoded)
    monkeypatch.setattr(VideoLISAPipeline, "context_length", property(lambda self: limit))

    events = run(service, conversation, "Last one?")
    notices = [event.text for event in events if isinstance(event, Notice)]
    assert isinstance(events[-1], TurnDone)
    assert notices == [
        "Earlier messages were left out to fit the model's context: 2 turns dropped."
    ]
    assert len(conversation.session.history) == 4


def test_another_video_starts_a_new_context(service, conversation, tmp_path):
    run(service, conversation, "Where is the object?")
    other = tmp_path / "other"
    shutil.copytree(conversation.video, other)
    assert conversation.attach(other)
    assert conversation.session.history == []
    assert not conversation.attach(other)  # the same video again keeps the context


def test_closing_a_conversation_removes_its_files(service, conversation):
    done = run(service, conversation, "Where is the object?")[-1]
    conversation.close()
    assert not done.overlay.exists()
    assert not conversation.workdir.exists()


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="dense frames"):
        TurnSettings(num_sparse=2, num_dense=3)


def test_the_app_encodes_with_its_sam_options(
    golden_dir, golden_pipeline, tmp_path, monkeypatch, encode_calls
):
    import app

    services = []

    def build_demo(service, defaults, untrained):
        services.append(service)
        return SimpleNamespace(queue=lambda: SimpleNamespace(launch=lambda **options: None))

    monkeypatch.setattr(app, "load_pipeline", lambda args: golden_pipeline)
    monkeypatch.setattr(app, "build_demo", build_demo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app.main(["--model", str(golden_dir), "--sam-batch", "2", "--max-memory", "16kB"])
    conversation = services[0].open_conversation()
    conversation.attach(golden_dir / "frames")
    assert isinstance(run(services[0], conversation, "Where is the object?")[-1], TurnDone)
    conversation.close()
    assert [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls] == [(2, 16_000)]
