"""Correcting an answer by pointing, through the chat service: a click starts or corrects a
track on every frame, the answer's files follow, undo takes it back, neither the LLM nor an
image encoder runs, a tracker carries it when asked, and bad clicks get a message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from videolisa.chat.events import Notice, TurnDone, TurnFailed
from videolisa.chat.settings import TurnSettings
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.visual_prompts import Box, Click, FramePrompt
from videolisa.modeling.videolisa import VideoLISAModel

FORCED = TurnSettings(EncodeSettings(4, 2), always_mask=True)


@pytest.fixture
def frames(golden_dir):
    return golden_dir / "frames"


def last(events):
    assert isinstance(events[-1], TurnDone | TurnFailed)
    return events[-1]


@pytest.fixture
def answer(service, conversation):
    done = last(list(service.run_turn(conversation, "Where is the object?", FORCED)))
    assert isinstance(done, TurnDone) and done.num_tracks == 1
    return done


def masks_of(done, track):
    folder = done.folder / "masks" / str(track)
    return np.stack([np.asarray(Image.open(p)) > 0 for p in sorted(folder.glob("*.png"))])


@pytest.fixture
def model_calls(monkeypatch):
    """Calls of the LLM and the image encoders (CLIP, SAM's ViT) during the test."""
    calls = []
    for name in ("clip_patch_features", "sam_image_embeddings", "embed_prompt"):
        original = getattr(VideoLISAModel, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(VideoLISAModel, name, counting)
    return calls


def test_a_click_starts_a_new_track_on_every_frame_without_the_llm(
    service, conversation, answer, model_calls
):
    before = masks_of(answer, 0)
    prompt = FramePrompt(3, (Click(20, 15),))
    events = list(service.clicks.click(conversation, answer, prompt, None))
    done = last(events)
    assert isinstance(done, TurnDone) and done.num_tracks == 2, done
    assert model_calls == []  # no LLM, no image encoder: the video's encoding is reused
    new = masks_of(done, 1)
    assert new.shape == (6, 40, 56) and new[3].any()
    assert np.array_equal(masks_of(done, 0), before)  # the other track is unchanged
    assert done.tracks[1].corrected_on == (3,) and done.tracks[0].corrected_on == ()
    assert done.overlay.name == "overlay-corrected-1.mp4" and done.overlay.is_file()
    result = json.loads((done.folder / "result.json").read_text())
    assert result["corrections"] == [{"track": 1, "frame": 3, "clicks": [[20, 15, 1]], "box": None}]
    assert any(isinstance(e, Notice) and "Settings → Refine over time" in e.text for e in events)

    undone = last(list(service.clicks.undo(conversation, done)))
    assert undone.num_tracks == 1 and not (done.folder / "masks" / "1").exists()
    assert json.loads((done.folder / "result.json").read_text())["corrections"] == []


def test_correcting_a_track_keeps_its_first_masks_for_undo(service, conversation, answer):
    before = masks_of(answer, 0)
    box = FramePrompt(2, box=Box(2, 2, 30, 30))
    done = last(list(service.clicks.click(conversation, answer, box, 0)))
    assert isinstance(done, TurnDone) and done.num_tracks == 1
    done = last(
        list(service.clicks.click(conversation, done, FramePrompt(2, (Click(9, 9, False),)), 0))
    )
    assert done.tracks[0].corrected_on == (2,)
    undone = last(list(service.clicks.undo(conversation, done)))  # the negative click
    undone = last(list(service.clicks.undo(conversation, undone)))  # the box
    assert np.array_equal(masks_of(undone, 0), before)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sam2", "sam3"])
def test_a_tracker_carries_the_correction(golden_pipeline, tmp_path, frames, name):
    from tests.inference.tiny_trackers import TINY_TRACKERS
    from videolisa.chat.service import ChatService

    folder = TINY_TRACKERS[name](tmp_path / f"tiny-{name}")
    service = ChatService(
        golden_pipeline, workdir_root=tmp_path, tracker_checkpoints={name: str(folder)}
    )
    conversation = service.conversations.open()
    conversation.attach(frames)
    answer = last(list(service.run_turn(conversation, "Where is the object?", FORCED)))
    before = masks_of(answer, 0)
    prompt = FramePrompt(4, (Click(30, 20),))
    events = list(service.clicks.click(conversation, answer, prompt, None, refine=name))
    done = last(events)
    assert isinstance(done, TurnDone) and done.num_tracks == 2, done
    assert any(isinstance(e, Notice) and "refined over time" in e.text for e in events)
    tracked = masks_of(done, 1)
    assert tracked.shape[0] == 6  # every frame got a mask
    from videolisa.inference.visual_prompts import prompted_mask

    cached = service.videos.cache.get(answer.video_key)
    clicked = prompted_mask(golden_pipeline.model, cached.encoded, prompt)
    assert np.array_equal(tracked[4], clicked)  # the clicked frame keeps its mask
    assert np.array_equal(masks_of(done, 0), before)  # the rest of the tracks unchanged
    service.conversations.close(conversation)


@pytest.mark.parametrize(
    ("frame", "clicks", "box", "track", "message"),
    [
        (6, (Click(1, 1),), None, None, "Frame 6 is not in the video"),
        (0, (Click(56, 1),), None, None, "outside the frame"),
        (0, (Click(1, 1),), None, 3, "Track 3 does not exist"),
        (0, (), Box(4, 4, 4, 8), None, "has no area"),
    ],
)
def test_bad_clicks_are_refused_with_a_message(
    service, conversation, answer, frame, clicks, box, track, message
):
    failed = last(
        list(service.clicks.click(conversation, answer, FramePrompt(frame, clicks, box), track))
    )
    assert isinstance(failed, TurnFailed) and message in failed.message


def test_more_objects_than_the_track_limit_are_refused(golden_pipeline, tmp_path, frames):
    from videolisa.chat.service import ChatService

    service = ChatService(golden_pipeline, workdir_root=tmp_path, max_tracks=1)
    conversation = service.conversations.open()
    conversation.attach(frames)
    answer = last(list(service.run_turn(conversation, "Where?", FORCED)))
    failed = last(
        list(service.clicks.click(conversation, answer, FramePrompt(0, (Click(5, 5),)), None))
    )
    assert isinstance(failed, TurnFailed) and "--max-tracks 1" in failed.message


def test_clicks_alone_make_a_track_of_the_conversations_video(service, conversation, model_calls):
    done = last(
        list(service.clicks.click(conversation, None, FramePrompt(1, (Click(20, 15),)), None))
    )
    assert isinstance(done, TurnDone) and done.num_tracks == 1 and done.answer == ""
    assert "embed_prompt" not in model_calls  # no LLM
    assert masks_of(done, 0).shape == (6, 40, 56)
