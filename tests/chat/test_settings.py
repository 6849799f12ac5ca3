"""One definition of every setting's bounds, for the app's controls and the API alike: frame
counts within the server's caps and the model's context, tokens within the server's cap, a
finite temperature, and a message naming the setting, what is allowed and the value given."""

from __future__ import annotations

import math

import pytest

from videolisa.chat.settings import MAX_NEW_TOKENS, SettingsForm, TurnSettings
from videolisa.errors import ConfigError


def form(context_length: int = 4096, tokens: int = 576) -> SettingsForm:
    return SettingsForm(
        frames=(32, 4),
        context_length=context_length,
        tokens_per_dense_frame=tokens,
        max_tracks=8,
        trackers=[("SAM 2 (tiny)", "sam2")],
    )


def test_the_defaults_make_the_servers_settings():
    settings = form().settings()
    assert isinstance(settings, TurnSettings)
    assert (settings.encode.num_sparse, settings.encode.num_dense) == (32, 4)
    assert settings.generation.max_tracks == 8 and settings.refine is None
    assert form().settings({"refine": "sam2", "opacity": 1}).refine == "sam2"


def test_frame_counts_leave_the_answer_its_room_in_the_context():
    published = form()  # Phi-3's 4,096 positions, 576 per dense frame
    sparse, dense = published.fields["frames_sparse"], published.fields["frames_dense"]
    assert (sparse.high, dense.high) == (64, 5)
    assert 64 + 5 * 576 + MAX_NEW_TOKENS <= 4096
    small = form(context_length=2048, tokens=64)
    assert small.fields["frames_dense"].high == 16  # the server's cap


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("frames_sparse", 10**9, "a whole number from 1 to 64"),
        ("frames_sparse", -1, "a whole number from 1 to 64"),
        ("frames_sparse", 1.5, "a whole number"),
        ("frames_sparse", "abc", "a whole number"),
        ("frames_sparse", True, "a whole number"),
        ("max_new_tokens", 0, f"from 1 to {MAX_NEW_TOKENS}"),
        ("max_new_tokens", 10**9, f"from 1 to {MAX_NEW_TOKENS}"),
        ("temperature", math.nan, "a number from 0 to 2"),
        ("temperature", math.inf, "a number from 0 to 2"),
        ("temperature", "0.5", "a number from 0 to 2"),
        ("always_mask", 1, "true or false"),
        ("refine", "xmem", "one of off, sam2"),
        ("opacity", -0.1, "a number from 0 to 1"),
    ],
)
def test_a_bad_value_names_the_setting_the_range_and_the_value(name, value, allowed):
    with pytest.raises(ConfigError) as refused:
        form().settings({name: value})
    message = str(refused.value)
    assert message.startswith(f"Setting {name} (") and allowed in message
    assert "got " in message and "\n" not in message


def test_dense_frames_cannot_outnumber_sparse_ones_and_names_are_checked():
    with pytest.raises(ConfigError, match=r"at most frames_sparse \(2\); got 3"):
        form().settings({"frames_sparse": 2, "frames_dense": 3})
    with pytest.raises(ConfigError, match="Unknown setting frames"):
        form().settings({"frames": 8})
    assert form().settings({"frames_sparse": 8.0, "temperature": None}).encode.num_sparse == 8
