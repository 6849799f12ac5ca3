"""Generation: KV-cached steps agree with one forward pass; every <TRK> becomes one track."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from videolisa.errors import PromptError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import (
    GenerationSettings,
    forced_answer_states,
    generate_steps,
)
from videolisa.inference.steps import drain
from videolisa.modeling.chat_template import Message

QUESTION = "Please segment the moving red square in this image."


@pytest.fixture(scope="module")
def encoded(golden_pipeline, golden_dir):
    frames = load_file(str(golden_dir / "golden.safetensors"))["video_rgb_uint8"].numpy()
    return golden_pipeline.encode(frames, EncodeSettings(4, 2))


def _pipeline_emitting_tracks(golden_pipeline, encoded):
    """A copy of the golden model whose output and input rows of one frequently generated
    token and the track token are swapped: it generates the same sequence with that token
    replaced by <TRK>, so the test knows where the tracks are."""
    settings = GenerationSettings(max_new_tokens=12)
    prompt = golden_pipeline.prompt_ids([Message("user", QUESTION)], True)
    first = drain(
        generate_steps(golden_pipeline.model, prompt, encoded.llm_prefix, -1, set(), settings)
    ).token_ids
    token = max(set(first), key=first.count)
    pipeline = copy.copy(golden_pipeline)
    pipeline.model = copy.deepcopy(golden_pipeline.model)
    track = pipeline.tokenizer.track_token_id
    for weight in (
        pipeline.model.llm.lm_head.weight,
        pipeline.model.llm.get_input_embeddings().weight,
    ):
        with torch.no_grad():
            weight[[token, track]] = weight[[track, token]]
    return pipeline, first, token


def test_cached_generation_matches_a_forced_forward_pass(golden_pipeline, encoded):
    pipeline, first, token = _pipeline_emitting_tracks(golden_pipeline, encoded)
    track = pipeline.tokenizer.track_token_id
    settings = GenerationSettings(max_new_tokens=12)
    prompt = pipeline.prompt_ids([Message("user", QUESTION)], True)
    streamed: list[int] = []
    raw = drain(
        generate_steps(pipeline.model, prompt, encoded.llm_prefix, track, set(), settings),
        streamed.append,
    )
    assert raw.token_ids == [track if t == token else t for t in first] == streamed
    assert len(raw.track_states) == first.count(token) >= 2
    forced = forced_answer_states(
        pipeline.model, prompt + raw.token_ids, len(prompt), encoded.llm_prefix, track
    )
    assert torch.allclose(raw.track_states, forced.track_states, atol=1e-4)


def test_every_track_token_gives_its_own_masks(golden_pipeline, encoded):
    pipeline, first, token = _pipeline_emitting_tracks(golden_pipeline, encoded)
    deltas: list[str] = []
    answer = pipeline.answer(
        encoded, [], QUESTION, settings=GenerationSettings(max_new_tokens=12), on_text=deltas.append
    )
    assert answer.num_tracks == first.count(token)
    assert answer.text.count("<TRK>") == answer.num_tracks
    assert "".join(deltas).strip() == answer.text
    masks = pipeline.track_masks(encoded, answer.track_embeddings)
    assert masks.shape == (answer.num_tracks, 6, 40, 56) and masks.dtype == np.bool_
    chunks = list(pipeline.mask_steps(encoded, answer.track_embeddings, decode_batch=4))
    per_chunk = max(1, 4 // answer.num_tracks)  # at most 4 decoded masks per step
    assert [c.frames for c in chunks] == [
        slice(start, min(start + per_chunk, 6)) for start in range(0, 6, per_chunk)
    ]
    assert np.array_equal(np.concatenate([c.masks for c in chunks], axis=1), masks)


def test_an_answer_stops_before_a_track_beyond_the_limit(golden_pipeline, encoded):
    pipeline, _first, _token = _pipeline_emitting_tracks(golden_pipeline, encoded)
    settings = GenerationSettings(max_new_tokens=12)
    free = pipeline.answer(encoded, [], QUESTION, settings=settings)
    assert free.num_tracks >= 2 and not free.track_limit_hit
    limited = GenerationSettings(max_new_tokens=12, max_tracks=1)
    cut = pipeline.answer(encoded, [], QUESTION, settings=limited)
    assert cut.num_tracks == 1 and cut.track_limit_hit
    assert cut.text.count("<TRK>") == 1 and cut.text.endswith("…")
    second = free.token_ids.index(
        pipeline.tokenizer.track_token_id,
        free.token_ids.index(pipeline.tokenizer.track_token_id) + 1,
    )
    assert cut.token_ids == free.token_ids[:second]
    assert torch.allclose(cut.track_embeddings, free.track_embeddings[:1], atol=1e-6)


def test_a_forced_answer_is_cut_at_the_track_limit(golden_pipeline, encoded):
    many = "Sure, " + ", ".join(["<TRK>"] * 50) + "."
    whole = golden_pipeline.answer(encoded, [], QUESTION, forced_answer=many)
    eight = GenerationSettings(max_tracks=8)
    cut = golden_pipeline.answer(encoded, [], QUESTION, forced_answer=many, settings=eight)
    assert whole.num_tracks == 50 and not whole.track_limit_hit
    assert cut.num_tracks == 8 and cut.track_limit_hit and cut.text.count("<TRK>") == 8
    assert torch.allclose(cut.track_embeddings, whole.track_embeddings[:8])


def test_masks_come_in_chunks_of_bounded_size(golden_pipeline, encoded):
    embeddings = golden_pipeline.answer(
        encoded, [], QUESTION, forced_answer=" ".join(["<TRK>"] * 5)
    ).track_embeddings
    frame_bytes = 5 * 40 * 56  # one frame of 5 tracks, bool
    chunks = list(golden_pipeline.mask_steps(encoded, embeddings, max_chunk_bytes=2 * frame_bytes))
    assert [c.masks.shape for c in chunks] == [(5, 2, 40, 56)] * 3
    whole = golden_pipeline.track_masks(encoded, embeddings)
    assert np.array_equal(np.concatenate([c.masks for c in chunks], axis=1), whole)


def test_closing_the_steps_stops_generation(golden_pipeline, encoded):
    steps = golden_pipeline.answer_steps(
        encoded, [], QUESTION, settings=GenerationSettings(max_new_tokens=50)
    )
    first = next(steps)
    assert isinstance(first, str)
    steps.close()
    with pytest.raises(StopIteration):
        next(steps)


def test_answer_without_track_token_is_only_text(golden_pipeline, encoded):
    answer = golden_pipeline.answer(encoded, [], QUESTION, forced_answer="It is red.")
    assert answer.num_tracks == 0 and answer.text == "It is red."
    assert golden_pipeline.track_masks(encoded, answer.track_embeddings).shape[0] == 0


def test_sampling_is_reproducible_with_a_seed(golden_pipeline, encoded):
    settings = GenerationSettings(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    a = golden_pipeline.answer(encoded, [], QUESTION, settings=settings)
    b = golden_pipeline.answer(encoded, [], QUESTION, settings=settings)
    assert a.token_ids == b.token_ids and len(a.token_ids) > 0


@pytest.mark.slow
def test_generation_without_settings_is_greedy_with_the_defaults(golden_pipeline, encoded):
    default = golden_pipeline.answer(encoded, [], QUESTION)
    greedy = golden_pipeline.answer(encoded, [], QUESTION, settings=GenerationSettings())
    assert default.token_ids == greedy.token_ids and len(default.token_ids) > 0


def test_multi_turn_history_is_in_the_prompt(golden_pipeline, encoded):
    history = [Message("user", QUESTION), Message("assistant", "Sure, <TRK>.")]
    one = golden_pipeline.prompt_ids([Message("user", "And now?")], True)
    two = golden_pipeline.prompt_ids([*history, Message("user", "And now?")], True)
    assert len(two) > len(one)
    assert two.count(golden_pipeline.tokenizer.track_token_id) == 1
    answer = golden_pipeline.answer(encoded, history, "And now?", forced_answer="Sure, <TRK>.")
    assert answer.num_tracks == 1


def test_prompt_that_does_not_fit_is_refused(golden_pipeline, encoded):
    with pytest.raises(PromptError, match="context holds 4096"):
        golden_pipeline.answer(encoded, [], "word " * 5000, forced_answer="Sure, <TRK>.")
    with pytest.raises(PromptError, match="empty"):
        golden_pipeline.answer(encoded, [], "   ", forced_answer="Sure, <TRK>.")


def test_batched_decode_equals_a_per_frame_loop(golden_pipeline, encoded):
    answer = golden_pipeline.answer(encoded, [], QUESTION, forced_answer="Sure, <TRK>.")
    embedding = answer.track_embeddings[0]
    batched = golden_pipeline.mask_logits(encoded, encoded.sam.get(slice(None)), embedding)
    looped = torch.cat(
        [
            golden_pipeline.mask_logits(encoded, encoded.sam.get(slice(i, i + 1)), embedding)
            for i in range(6)
        ]
    )
    assert torch.allclose(batched, looped, atol=1e-5)


def test_a_second_question_does_not_encode_the_video_again(golden_pipeline, encoded, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("the video was encoded again")

    monkeypatch.setattr(golden_pipeline.model, "sam_image_embeddings", fail)
    monkeypatch.setattr(golden_pipeline.model, "clip_patch_features", fail)
    for question in (QUESTION, "And the other one?"):
        answer = golden_pipeline.answer(encoded, [], question, forced_answer="Sure, <TRK>.")
        assert golden_pipeline.track_masks(encoded, answer.track_embeddings).shape[0] == 1
