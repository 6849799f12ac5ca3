"""Training examples use inference's ids and track states; their losses train the model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import llm_position
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.toyworld import KINDS, WorldConfig, iter_samples
from videolisa.training.examples import (
    IGNORE_INDEX,
    build_example,
    example_losses,
    llm_labels,
    visual_features,
)
from videolisa.training.losses import LossWeights, dice_loss, sigmoid_bce_loss

WORLD = WorldConfig(min_frames=8, max_frames=8, min_size=64, max_size=64)
NUM_SPARSE, NUM_DENSE = 4, 2


def _samples(kind: str, n: int) -> list:
    stream = iter_samples(0, [kind], WORLD)
    return [next(stream) for _ in range(n)]


@pytest.fixture(scope="module")
def samples() -> dict[str, list]:
    return {kind: _samples(kind, 4) for kind in KINDS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, samples) -> VideoLISAPipeline:
    sentences = [
        text
        for group in samples.values()
        for sample in group
        for turn in sample.turns
        for text in (turn.question, turn.answer)
    ]
    folder = create_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", sentences * 3)
    return VideoLISAPipeline.from_pretrained(folder, device="cpu")


def _example(tiny, sample, turn_index: int = -1):
    turn_index %= len(sample.turns)
    return build_example(tiny, sample, turn_index, NUM_SPARSE, NUM_DENSE)


def test_answer_ids_continue_the_generation_prompt_for_every_kind(tiny, samples):
    for group in samples.values():
        for sample in group:
            for index, turn in enumerate(sample.turns):
                example = _example(tiny, sample, index)
                history = [
                    m
                    for earlier in sample.turns[:index]
                    for m in (
                        Message("user", earlier.question),
                        Message("assistant", earlier.answer),
                    )
                ]
                prompt = tiny.prompt_ids([*history, Message("user", turn.question)], True)
                assert example.input_ids[: example.answer_start] == prompt
                answer = tiny.tokenizer.decode(example.input_ids[example.answer_start :])
                assert answer.strip() == turn.answer + "<|end|>"


def test_labels_cover_only_the_last_answer_and_its_end_token(tiny, samples):
    sample = samples["multi_turn"][0]
    example = _example(tiny, sample)
    start = example.answer_start
    assert set(example.labels[:start]) == {IGNORE_INDEX}
    assert example.labels[start:] == example.input_ids[start:]
    assert example.labels[-1] == tiny.tokenizer.token_id("<|end|>")


def test_earlier_turns_are_history(tiny, samples):
    sample = samples["multi_turn"][0]
    first, second = sample.turns
    example = _example(tiny, sample, 1)
    history = tiny.tokenizer.decode(example.input_ids[: example.answer_start])
    assert first.question in history and first.answer in history
    assert history.index(first.answer) < history.index(second.question)
    assert tiny.tokenizer.decode(example.input_ids[example.answer_start :]).strip() == (
        second.answer + "<|end|>"
    )
    text_only = _example(tiny, sample, 0)
    assert text_only.track_positions == [] and text_only.target_masks.shape == (0, 8, 64, 64)


def test_track_positions_and_target_masks_line_up(tiny, samples):
    sample = samples["several"][0]
    example = _example(tiny, sample)
    turn = sample.turns[-1]
    track_id = tiny.tokenizer.track_token_id
    assert len(example.track_positions) == turn.answer.count("<TRK>") >= 2
    assert [example.input_ids[p] for p in example.track_positions] == [track_id] * len(
        turn.track_objects
    )
    assert min(example.track_positions) >= example.answer_start
    assert np.array_equal(example.target_masks, sample.masks[list(turn.track_objects)])
    assert example.target_masks.dtype == np.bool_


def test_llm_labels_expand_the_video_and_shift(tiny, samples):
    example = _example(tiny, samples["attribute"][0])
    num_video = 7
    targets = llm_labels(example, num_video)
    assert targets.shape == (len(example.input_ids) - 1 + num_video,)
    answer = example.input_ids[example.answer_start :]
    assert targets[targets != IGNORE_INDEX].tolist() == answer
    first = llm_position(example.answer_start, example.input_ids, num_video)
    assert targets[first - 1] == answer[0] and targets[-1] == IGNORE_INDEX
    for position in example.track_positions:
        at = llm_position(position, example.input_ids, num_video) - 1
        assert targets[at] == tiny.tokenizer.track_token_id


def test_mask_losses_are_inference_masks_on_the_dense_frames(tiny, samples):
    sample = samples["attribute"][0]
    example = _example(tiny, sample)
    with torch.no_grad():
        features = visual_features(tiny.model, tiny.preprocessor, example)
        losses = example_losses(tiny.model, example, features, LossWeights())
    encoded = tiny.encode(example.frames, EncodeSettings(NUM_SPARSE, NUM_DENSE))
    turn = sample.turns[-1]
    answer = tiny.answer(encoded, [], turn.question, forced_answer=turn.answer)
    dense = list(example.sampling.dense_frames)
    logits = torch.cat(
        [
            tiny.mask_logits(encoded, encoded.sam.get(slice(None)), e)[dense]
            for e in answer.track_embeddings
        ]
    )
    truth = torch.from_numpy(example.target_masks[:, dense]).flatten(0, 1)
    assert torch.allclose(losses.bce, sigmoid_bce_loss(logits, truth), atol=1e-5)
    assert torch.allclose(losses.dice, dice_loss(logits, truth), atol=1e-5)
    assert torch.allclose(losses.mask_logits.flatten(0, 1), logits, atol=1e-4)


def test_losses_are_finite_and_backward_reaches_the_llm(tiny, samples):
    model = copy.deepcopy(tiny.model)
    model.vision_tower.requires_grad_(False)
    model.sam.image_encoder.requires_grad_(False)
    example = _example(tiny, samples["several"][0])
    features = visual_features(model, tiny.preprocessor, example)
    outputs = example_losses(model, example, features, LossWeights())
    losses = outputs.losses()
    assert outputs.embeddings.shape == (2, model.config.out_dim)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses["bce"] > 0 and losses["dice"] > 0
    expected = losses["ce"] + 2.0 * losses["bce"] + 0.5 * losses["dice"]
    assert torch.allclose(losses["total"], expected)
    assert len(outputs.hidden_states) == model.config.raw["num_hidden_layers"] + 1
    first_video_token = outputs.hidden_states[0][outputs.video_start]  # the LLM's input
    assert torch.equal(first_video_token, features.video_tokens[0])
    losses["total"].backward()
    for weight in (
        model.text_hidden_fcs[0].weight,
        model.llm.model.layers[0].self_attn.qkv_proj.weight,
        model.llm.get_input_embeddings().weight,
        model.sam.mask_decoder.output_upscaling[0].weight,
    ):
        assert weight.grad is not None and weight.grad.abs().sum() > 0
    frozen = [*model.vision_tower.parameters(), *model.sam.image_encoder.parameters()]
    assert all(p.grad is None for p in frozen)


def test_text_only_turn_has_no_mask_loss(tiny, samples):
    example = _example(tiny, samples["multi_turn"][0], 0)
    with torch.no_grad():
        features = visual_features(tiny.model, tiny.preprocessor, example)
        losses = example_losses(tiny.model, example, features, LossWeights())
    assert losses.bce == 0 and losses.dice == 0 and losses.mask_logits is None
    assert torch.isfinite(losses.ce) and losses.total == losses.ce


@pytest.mark.slow
def test_a_few_sgd_steps_reduce_the_loss(tiny, samples):
    torch.manual_seed(0)
    model = copy.deepcopy(tiny.model)
    example = _example(tiny, samples["attribute"][1])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    totals = []
    for _ in range(10):
        optimizer.zero_grad()
        features = visual_features(model, tiny.preprocessor, example)
        total = example_losses(model, example, features, LossWeights()).total
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < 0.95 * totals[0]


def test_an_encoded_video_of_another_example_is_rejected(tiny, samples):
    example = _example(tiny, samples["attribute"][0])
    other = build_example(tiny, samples["attribute"][0], 0, NUM_SPARSE, NUM_DENSE - 1)
    features = visual_features(tiny.model, tiny.preprocessor, other)
    with pytest.raises(ValueError, match="not the example's"):
        example_losses(tiny.model, example, features, LossWeights())


def test_mask_losses_on_some_of_the_dense_frames(tiny, samples):
    example = _example(tiny, samples["several"][0])
    with torch.no_grad():
        features = visual_features(tiny.model, tiny.preprocessor, example, [1])
        outputs = example_losses(tiny.model, example, features, LossWeights())
    assert features.mask_frames == (example.sampling.dense_frames[1],)
    assert features.sam_embeddings.shape[0] == 1
    assert outputs.mask_logits.shape[:2] == (len(example.track_positions), 1)
    assert len(features.video_tokens) == len(
        visual_features(tiny.model, tiny.preprocessor, example).video_tokens
    )  # the LLM still sees every dense frame
