"""The LLM's keys and values up to the video are computed once per video; every answer runs the
LLM on its own text only, with the numbers of one pass over the whole prompt."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings, llm_position
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import FORCED_ANSWER

FIRST = "Please segment the moving red square in this image."
SECOND = "Now please segment the green patch."


@pytest.fixture(scope="module")
def golden_frames(golden_dir):
    return load_file(str(golden_dir / "golden.safetensors"))["video_rgb_uint8"].numpy()


@pytest.fixture(scope="module")
def windowed_pipeline(golden_dir, tmp_path_factory):
    """The golden checkpoint with a 300-token sliding window: the video (1,156 tokens) is longer
    than the window, so the kept prefix is cut to the window as the LLM's cache does."""
    folder = tmp_path_factory.mktemp("golden_sw300")
    for item in golden_dir.iterdir():
        if item.name != "config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((golden_dir / "config.json").read_text())
    config["sliding_window"] = 300
    (folder / "config.json").write_text(json.dumps(config))
    return VideoLISAPipeline.from_pretrained(folder, dtype="float32", device="cpu")


def _one_pass_track_embeddings(pipeline, encoded, messages) -> torch.Tensor:
    """The track embeddings of a forced answer computed in one pass over the whole prompt."""
    ids = pipeline.prompt_ids(messages, False)
    answer_start = len(pipeline.prompt_ids(messages[:-1], True))
    track = pipeline.tokenizer.track_token_id
    with torch.inference_mode():
        embeds = pipeline.model.embed_prompt(torch.tensor(ids), encoded.video_tokens)
        hidden = pipeline.model.llm.model(inputs_embeds=embeds).last_hidden_state[0]
        at = [i for i in range(answer_start, len(ids)) if ids[i] == track]
        states = hidden[[llm_position(i, ids, len(encoded.video_tokens)) - 1 for i in at]]
        return pipeline.model.track_embeddings(states)


@pytest.mark.parametrize("which", ["golden", "windowed"])
def test_answers_after_the_kept_prefix_equal_one_pass(
    which, golden_pipeline, windowed_pipeline, golden_frames
):
    pipeline = golden_pipeline if which == "golden" else windowed_pipeline
    encoded = pipeline.encode(golden_frames, EncodeSettings(4, 2))
    first = pipeline.answer(encoded, [], FIRST, forced_answer=FORCED_ANSWER)
    history = [Message("user", FIRST), Message("assistant", first.text)]
    second = pipeline.answer(encoded, history, SECOND, forced_answer=FORCED_ANSWER)
    for answer, messages in (
        (first, [Message("user", FIRST), Message("assistant", FORCED_ANSWER)]),
        (second, [*history, Message("user", SECOND), Message("assistant", FORCED_ANSWER)]),
    ):
        expected = _one_pass_track_embeddings(pipeline, encoded, messages)
        assert (answer.track_embeddings - expected).abs().max() < 1e-5


def test_the_prefix_is_computed_once_and_counted(golden_pipeline, golden_frames):
    pipeline = golden_pipeline
    encoded = pipeline.encode(golden_frames, EncodeSettings(4, 2))
    before = encoded.nbytes
    lengths = []
    hook = pipeline.model.llm.model.register_forward_pre_hook(
        lambda _module, _args, kwargs: lengths.append(kwargs["inputs_embeds"].shape[1]),
        with_kwargs=True,
    )
    try:
        first = pipeline.answer(encoded, [], FIRST, forced_answer=FORCED_ANSWER)
        history = [Message("user", FIRST), Message("assistant", first.text)]
        pipeline.answer(encoded, history, SECOND, forced_answer=FORCED_ANSWER)
        pipeline.answer(encoded, history, SECOND, settings=GenerationSettings(max_new_tokens=3))
    finally:
        hook.remove()
    video = len(encoded.video_tokens)
    assert lengths[0] > video  # the prefix: the system prompt, then the video
    assert all(length < video for length in lengths[1:])  # later calls: text only
    assert sum(length > video for length in lengths) == 1
    assert encoded.llm_prefix.nbytes > 0 and encoded.nbytes == before + encoded.llm_prefix.nbytes
