"""The chat service on the golden tiny pipeline: cache reuse, failed and stopped turns, bounds,
result files."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.conftest import GOLDEN_TINY
from videolisa.chat.events import Notice, Progress, TextDelta, TurnDone, TurnFailed
from videolisa.chat.messages import INTERNAL_ERROR_MESSAGE, hide_paths
from videolisa.chat.settings import TurnSettings
from videolisa.errors import ConfigError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.video_cache import content_key
from videolisa.modeling.chat_template import Message

FORCED = TurnSettings(EncodeSettings(4, 1), always_mask=True)
GENERATE = TurnSettings(EncodeSettings(4, 1), GenerationSettings(max_new_tokens=6))


@pytest.fixture
def frames(golden_dir):
    return golden_dir / "frames"


def run(service, conversation, question, settings=FORCED):
    events = list(service.run_turn(conversation, question, settings))
    assert isinstance(events[-1], TurnDone | TurnFailed)
    return events


def test_two_turns_on_one_video_encode_it_once(service, conversation, encode_calls):
    first = run(service, conversation, "Where is the object?")
    second = run(service, conversation, "And where is it now?", GENERATE)

    assert len(encode_calls) == 1
    assert len(service.videos.cache) == 1
    stages = [p.stage for p in first if isinstance(p, Progress)]
    assert stages[:2] == ["decode", "encode"] and stages[-1] == "render"
    assert "masks" in stages
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
    monkeypatch.setattr(
        VideoLISAPipeline, "encode_steps", lambda *a, **k: pytest.fail("re-encoded")
    )
    outcome = list(service.segment(conversation, frames, "Segment it.", FORCED))[-1]
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


def test_an_image_gets_an_image_overlay(service, frames):
    conversation = service.conversations.open()
    conversation.attach(sorted(frames.glob("*.png"))[0])
    done = run(service, conversation, "Where is the object?")[-1]
    assert done.overlay.name == "overlay.png"
    assert Image.open(done.overlay).size == (56, 40)
    conversation.close()


def test_failed_turns_keep_the_history(service, conversation, golden_pipeline, monkeypatch):
    run(service, conversation, "Where is the object?")
    history = list(conversation.session.history)

    empty = run(service, conversation, "   ")[-1]
    with monkeypatch.context() as patch:
        patch.setattr(VideoLISAPipeline, "context_length", property(lambda self: 40))
        too_long = run(service, conversation, "Go on.")[-1]

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(golden_pipeline, "answer_steps", out_of_memory)
    oom = run(service, conversation, "Go on.")[-1]

    def bug(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(golden_pipeline, "answer_steps", bug)
    crash = run(service, conversation, "Go on.")[-1]

    assert empty == TurnFailed("The question is empty. Type a question about the video.")
    assert isinstance(too_long, TurnFailed) and "context holds" in too_long.message
    assert oom == TurnFailed(
        "Ran out of memory while writing the answer about 6 frames of 56×40. Use fewer "
        "frames (Settings), or start a new conversation."
    )
    assert crash == TurnFailed(INTERNAL_ERROR_MESSAGE)
    assert conversation.session.history == history


def test_out_of_memory_names_the_cause_and_keeps_the_text(
    service, conversation, golden_pipeline, monkeypatch, caplog
):
    def out_of_memory(*args, **kwargs):
        raise MemoryError()
        yield

    monkeypatch.setattr(golden_pipeline, "mask_steps", out_of_memory)
    failed = run(service, conversation, "Where is the object?")[-1]
    assert failed == TurnFailed(
        "Ran out of memory while segmenting 1 object on 6 frames of 56×40. Ask about fewer "
        "objects at once, or use a shorter or smaller video.",
        "Sure, <TRK>.",
    )
    assert "--load-4bit" in caplog.text and "--load-4bit" not in failed.message
    assert len(conversation.session.history) == 2  # the answer's text was said


def test_a_bad_upload_is_refused_once_and_the_previous_video_stays(service, tmp_path):
    conversation = service.conversations.open()
    missing = run(service, conversation, "Where?")[-1]
    assert missing == TurnFailed("No video yet. Attach a video or an image to your message.")
    good = tmp_path / "uploads" / "3f2a" / "good"
    shutil.copytree(GOLDEN_TINY / "frames", good)
    conversation.attach(good)
    assert isinstance(run(service, conversation, "Where is the object?")[-1], TurnDone)
    history = list(conversation.session.history)

    bad = tmp_path / "uploads" / "9c1b" / "my clip.mp4"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a video")
    conversation.attach(bad)
    refused = run(service, conversation, "Where?")[-1]
    assert isinstance(refused, TurnFailed) and "my clip.mp4" in refused.message
    assert "keeps its previous video" in refused.message
    assert str(tmp_path) not in refused.message and "Traceback" not in refused.message
    assert conversation.session.history == history

    again = run(service, conversation, "And now?")[-1]
    assert isinstance(again, TurnDone) and conversation.video == good.resolve()
    conversation.close()


def test_a_video_without_a_question_is_read_and_acknowledged(service, conversation):
    events = run(service, conversation, "  ")
    assert events[-1] == TurnDone("Got the video (6 frames, 56×40). Ask a question about it.", 0)
    assert conversation.session.history == []
    assert isinstance(run(service, conversation, "Where is it?")[-1], TurnDone)


def test_history_trimmed_to_the_context_with_a_notice(
    service, conversation, frames, golden_pipeline, monkeypatch
):
    for question in ("Where is the object?", "Where is it now?", "And now?"):
        run(service, conversation, question)
    key = content_key(frames, 4, 1, golden_pipeline.description)
    encoded = service.videos.cache.get(key).encoded
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


def test_another_video_starts_a_new_context_with_a_notice(service, conversation, tmp_path):
    run(service, conversation, "Where is the object?")
    other = tmp_path / "other"
    shutil.copytree(conversation.video, other)
    conversation.attach(other)
    events = run(service, conversation, "Where is it?")
    assert Notice("New video: the conversation starts over.") in events
    assert len(conversation.session.history) == 2
    conversation.attach(other)  # the same video again keeps the context
    events = run(service, conversation, "And now?")
    assert not any(isinstance(event, Notice) for event in events)
    assert len(conversation.session.history) == 4


def test_answers_are_cut_at_the_track_limit_with_a_notice(golden_pipeline, tmp_path, frames):
    from videolisa.chat.service import ChatService

    service = ChatService(golden_pipeline, workdir_root=tmp_path, max_tracks=0)
    conversation = service.conversations.open()
    conversation.attach(frames)
    settings = service.form.settings({"frames_sparse": 4, "frames_dense": 1, "always_mask": True})
    assert settings.generation.max_tracks == 0  # the server's limit
    events = run(service, conversation, "Where is the object?", settings)
    done = events[-1]
    assert isinstance(done, TurnDone) and done.num_tracks == 0 and done.answer == "Sure, …"
    assert (
        Notice(
            "The answer asked for more than 0 objects; it was cut after the first 0 (at most 0 "
            "per answer)."
        )
        in events
    )
    conversation.close()


def test_a_notice_about_the_video_comes_with_every_answer(golden_pipeline, tmp_path, frames):
    from videolisa.chat.service import ChatService

    seen = []

    def notice(video):
        seen.append(video.num_frames)
        return "Not a video this model knows."

    service = ChatService(golden_pipeline, workdir_root=tmp_path, video_notice=notice)
    conversation = service.conversations.open()
    conversation.attach(frames)
    events = run(service, conversation, "Where is the object?")
    assert Notice("Not a video this model knows.") in events and seen == [6]
    conversation.close()


def test_a_stopped_turn_frees_the_model_and_the_next_turn_works(service, conversation):
    turn = service.run_turn(conversation, "Where is the object?", GENERATE)
    for event in turn:  # stop during encoding
        if isinstance(event, Progress) and event.stage == "encode":
            break
    turn.close()
    assert len(service.videos.cache) == 0 and not service.model_lock.locked()

    turn = service.run_turn(conversation, "Where is the object?", GENERATE)
    text = ""
    for event in turn:  # stop while writing
        if isinstance(event, TextDelta):
            text += event.text
            break
    turn.close()
    assert not service.model_lock.locked()
    assert conversation.session.history[-1] == Message("assistant", f"{text.strip()} …")

    turn = service.run_turn(conversation, "Where is the object?", FORCED)
    for event in turn:  # stop while decoding masks
        if isinstance(event, Progress) and event.stage == "masks":
            break
    turn.close()
    assert not service.model_lock.locked()
    assert not any(conversation.workdir.glob("turn-*/overlay.mp4"))
    assert conversation.session.history[-1] == Message("assistant", "Sure, <TRK>.")

    assert isinstance(run(service, conversation, "And now?")[-1], TurnDone)


def test_closing_a_conversation_removes_its_files(service, conversation):
    done = run(service, conversation, "Where is the object?")[-1]
    conversation.close()
    assert not done.overlay.exists()
    assert not conversation.workdir.exists()


def test_server_paths_are_hidden_from_messages():
    message = "Cannot read /tmp/gradio/ab12/my clip.mp4: it is damaged (/usr/lib/x.so)."
    assert hide_paths(message) == "Cannot read my clip.mp4: it is damaged (x.so)."


def test_the_app_encodes_with_its_sam_options(golden_dir, tmp_path, monkeypatch, encode_calls):
    import app
    from tests.conftest import golden_model_args

    services = []

    def build_demo(service, card, toy, session_seconds):
        services.append(service)
        return SimpleNamespace(queue=lambda: SimpleNamespace(launch=lambda **options: None))

    monkeypatch.setattr(app, "build_demo", build_demo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app.main([*golden_model_args(golden_dir), "--sam-batch", "2", "--max-memory", "16kB"])
    conversation = services[0].conversations.open()
    conversation.attach(golden_dir / "frames")
    settings = TurnSettings(EncodeSettings(4, 2), always_mask=True)
    assert isinstance(list(services[0].run_turn(conversation, "Where?", settings))[-1], TurnDone)
    conversation.close()
    warm_up = [c for c in encode_calls if c["num_sparse"] == 2]  # before serving
    assert len(warm_up) == 1 and encode_calls[0] == warm_up[0]
    asked = [c for c in encode_calls if c["num_sparse"] == 4]
    assert [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in asked] == [(2, 16_000)]


def test_a_refined_turn_carries_the_masks_over_time_with_sam2(golden_pipeline, tmp_path, frames):
    from tests.inference.tiny_trackers import tiny_sam2_checkpoint
    from videolisa.chat.service import ChatService

    sam2 = tiny_sam2_checkpoint(tmp_path / "tiny-sam2")
    service = ChatService(
        golden_pipeline, workdir_root=tmp_path, tracker_checkpoints={"sam2": str(sam2)}
    )
    conversation = service.conversations.open()
    conversation.attach(frames)
    refined = TurnSettings(EncodeSettings(4, 2), always_mask=True, refine="sam2")
    events = run(service, conversation, "Where is the object?", refined)
    assert "refine" in [event.stage for event in events if isinstance(event, Progress)]
    assert Notice("Masks refined over time by SAM 2 (tiny-sam2).") in events
    done = events[-1]
    assert isinstance(done, TurnDone) and done.num_tracks == 1
    with zipfile.ZipFile(done.masks_zip) as archive:
        assert json.loads(archive.read("result.json"))["mode"] == "refine_sam2"
        assert len([n for n in archive.namelist() if n.startswith("masks/0/")]) == 6
    cached = service.videos.cache.get(content_key(frames, 4, 2, golden_pipeline.description))
    features = cached.encoded.tracker_features.get(str(sam2))
    assert features.kept_frames == 6  # a follow-up pays only for tracking
    assert service.videos.cache.total_bytes == cached.nbytes  # the features are counted
    conversation.close()


def test_refining_without_the_tracker_weights_keeps_the_plain_masks_and_says_why(
    service, conversation, monkeypatch
):
    from videolisa.inference.trackers import registry

    loads = []
    load = registry.load_tracker
    monkeypatch.setattr(registry, "load_tracker", lambda *a: loads.append(a) or load(*a))
    refined = TurnSettings(EncodeSettings(4, 1), always_mask=True, refine="sam2")
    for _ in range(2):
        events = run(service, conversation, "Where is the object?", refined)
        done = events[-1]
        assert isinstance(done, TurnDone) and done.num_tracks == 1  # the plain masks
        notices = [event.text for event in events if isinstance(event, Notice)]
        assert len(notices) == 1 and "facebook/sam2.1-hiera-tiny" in notices[0]
        assert "plain masks" in notices[0] and "--refine-model DIR" in notices[0]
    with zipfile.ZipFile(done.masks_zip) as archive:
        assert json.loads(archive.read("result.json"))["mode"] == "one_token_seg_all"
    assert len(loads) <= 1  # a failed load is not tried again on every turn


def test_result_files_stay_within_the_disk_bounds(golden_pipeline, tmp_path, frames):
    from videolisa.chat.service import ChatService
    from videolisa.outputs import folder_bytes
    from videolisa.ui.turn_view import REMOVED, TurnView

    probe = ChatService(golden_pipeline, workdir_root=tmp_path / "probe")
    one = probe.conversations.open()
    one.attach(frames)
    size = folder_bytes(run(probe, one, "Where?")[-1].folder)
    service = ChatService(
        golden_pipeline,
        workdir_root=tmp_path / "chats",
        max_conversation_disk_bytes=int(2.5 * size),  # two results per conversation
        max_disk_bytes=int(3.5 * size),  # three in all
    )
    first, second = service.conversations.open(), service.conversations.open()
    views = []
    for conversation in (first, first, first, second, second):
        conversation.attach(frames)
        done = run(service, conversation, "Where is the object?")[-1]
        views.append(TurnView())
        views[-1].apply(done)
        assert done.folder.is_dir()  # a new answer always keeps its result
        assert conversation.result_bytes <= 2.5 * size
        assert first.result_bytes + second.result_bytes <= 3.5 * size
    assert [len(first.results), len(second.results)] == [1, 2]
    assert folder_bytes(tmp_path / "chats") <= 3.5 * size
    assert REMOVED in views[0].content() and REMOVED not in views[-1].content()


def test_hiding_tracks_and_viewing_frames_need_no_model(
    service, conversation, golden_pipeline, monkeypatch
):
    done = run(service, conversation, "Where is the object?")[-1]
    for method in ("encode_steps", "answer_steps", "mask_steps", "masks"):
        monkeypatch.setattr(golden_pipeline, method, lambda *a, **k: pytest.fail("model call"))
    hidden = service.redraw(done, set(), 0.5)
    assert hidden.name == "overlay-none.mp4" and hidden.parent == done.folder
    original, overlay = service.frame_pair(done, 3, set(), 0.5)
    assert np.array_equal(original, overlay)  # no track shown
    original, overlay = service.frame_pair(done, 3, {0}, 0.5)
    mask = np.asarray(Image.open(done.folder / "masks" / "0" / "00003.png")) > 0
    assert np.array_equal(original[~mask], overlay[~mask])
    assert not mask.any() or not np.array_equal(original[mask], overlay[mask])
    with pytest.raises(ConfigError, match="Frame 6 is not in the video"):
        service.frame_pair(done, 6, {0}, 0.5)


def test_a_video_too_large_with_its_frames_keeps_its_encoding(golden_pipeline, tmp_path, frames):
    """Decoded frames take the most memory; without room for them the encoding is kept, and a
    follow-up question reads the frames again but encodes nothing."""
    from videolisa.chat.service import ChatService

    probe = ChatService(golden_pipeline, workdir_root=tmp_path / "probe")
    one = probe.conversations.open()
    one.attach(frames)
    run(probe, one, "Where is the object?")
    (cached,) = [probe.videos.cache.get(key) for key in probe.videos.cache._entries]
    budget = cached.encoded.nbytes + 1000  # the encoding fits, the frames do not
    service = ChatService(golden_pipeline, workdir_root=tmp_path / "chats", max_memory_bytes=budget)
    conversation = service.conversations.open()
    conversation.attach(frames)
    run(service, conversation, "Where is the object?")
    (kept,) = [service.videos.cache.get(key) for key in service.videos.cache._entries]
    assert kept.video is None and service.videos.cache.total_bytes <= budget
    calls = []
    encode = golden_pipeline.encode_steps
    golden_pipeline.encode_steps = lambda *a, **k: calls.append(1) or encode(*a, **k)
    try:
        events = run(service, conversation, "And now?")
    finally:
        del golden_pipeline.encode_steps
    assert isinstance(events[-1], TurnDone) and events[-1].num_frames == 6 and calls == []
