"""A conversation owns its files: uploads are taken over (and gone with it), idle ones are
closed, and a closed one refuses further turns."""

from __future__ import annotations

import time

from videolisa.chat.events import TurnDone, TurnFailed
from videolisa.chat.settings import TurnSettings
from videolisa.inference.encoded_video import EncodeSettings

FORCED = TurnSettings(EncodeSettings(4, 1), always_mask=True)


def test_an_upload_becomes_the_conversations_own_file(service, tmp_path):
    uploads = tmp_path / "gradio" / "3f2a"
    uploads.mkdir(parents=True)
    upload = uploads / "clip.mp4"
    upload.write_bytes(b"video bytes")
    conversation = service.conversations.open()
    own = conversation.attach(upload, upload=True)
    assert own.is_relative_to(conversation.workdir) and own.read_bytes() == b"video bytes"
    assert conversation.pending == own and upload.exists()  # another may have the same bytes

    shared = tmp_path / "shared.mp4"
    shared.write_bytes(b"more bytes")
    other = service.conversations.open()
    other.attach(shared, upload=True)  # the same upload taken over by another conversation
    assert conversation.attach(shared, upload=True) != own  # each upload its own name
    conversation.close()
    assert not conversation.workdir.exists()
    assert not upload.exists() and not uploads.exists()  # nobody else held it
    assert shared.exists() and other.pending.read_bytes() == b"more bytes"
    other.close()
    assert not shared.exists()


def test_idle_conversations_are_closed_and_refuse_further_turns(service, golden_dir):
    idle, active = service.conversations.open(), service.conversations.open()
    for conversation in (idle, active):
        conversation.attach(golden_dir / "frames")
    assert isinstance(list(service.run_turn(idle, "Where?", FORCED))[-1], TurnDone)
    time.sleep(0.2)
    active.last_used = time.monotonic()
    assert service.conversations.close_idle(0.1) == 1
    assert idle.closed and not idle.workdir.exists() and not active.closed
    refused = list(service.run_turn(idle, "And now?", FORCED))[-1]
    assert isinstance(refused, TurnFailed) and "was closed" in refused.message
    assert isinstance(list(service.run_turn(active, "Where?", FORCED))[-1], TurnDone)
    service.conversations.close(active)
