"""The relational auxiliaries: the object-facts probe reads the right LLM positions, the track
probe and the separation loss behave on cases worked out by hand, and batched appearance
decoding equals the per-prompt decoder."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import TinySizes, create_tiny_checkpoint
from videolisa.toyworld import KINDS, WorldConfig, iter_samples
from videolisa.training.auxiliary import JOINT, AuxiliaryInputs, build_auxiliaries
from videolisa.training.auxiliary.appearance import decode_prompts
from videolisa.training.auxiliary.object_facts import LAYER
from videolisa.training.auxiliary.track_facts import centres
from videolisa.training.auxiliary.track_separation import shared_mass
from videolisa.training.examples import build_example, example_losses, visual_features
from videolisa.training.losses import LossWeights

WORLD = WorldConfig(min_frames=8, max_frames=10, min_size=64, max_size=72)
WEIGHTS = {"object_facts": 1.0, "track_facts": 1.0, "track_separation": 1.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> VideoLISAPipeline:
    stream = iter_samples(0, KINDS, WORLD)
    turns = [turn for _ in range(14) for turn in next(stream).turns]
    sentences = [text for turn in turns for text in (turn.question, turn.answer)]
    sizes = TinySizes(num_layers=3)
    folder = create_tiny_checkpoint(tmp_path_factory.mktemp("t") / "ck", sentences * 3, sizes)
    return VideoLISAPipeline.from_pretrained(folder, device="cpu")


def _inputs(pipeline, model, auxiliaries, kind: str) -> AuxiliaryInputs:
    sample = next(iter_samples(1, [kind], WORLD))
    example = build_example(pipeline, sample, len(sample.turns) - 1, 8, 4)
    features = visual_features(model, pipeline.preprocessor, example)
    outputs = example_losses(model, example, features, LossWeights())
    rng = np.random.default_rng(0)
    turn = sample.turns[-1]
    return AuxiliaryInputs(model, sample, turn, example, features, rng, outputs, auxiliaries)


def test_the_facts_probe_trains_the_llm_below_its_layer_only(tiny):
    model = copy.deepcopy(tiny.model)
    auxiliaries = build_auxiliaries(WEIGHTS, model, (JOINT,))
    inputs = _inputs(tiny, model, auxiliaries, "several")
    loss = auxiliaries["object_facts"].loss(inputs)
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    layers = model.llm.model.layers
    depth = len(layers) + 1 + LAYER  # layers that feed the probed hidden state
    assert all(p.grad is not None for p in layers[depth - 1].parameters())
    assert all(p.grad is None for p in layers[depth].parameters())
    assert model.mm_projector[0].weight.grad.abs().sum() > 0


def test_the_facts_probe_reads_the_object_tokens_of_later_dense_frames(tiny, monkeypatch):
    """Replace the hidden states by their own position: the rows the probe reads are video
    tokens of dense frames 1.. that an object covers."""
    model = tiny.model
    auxiliaries = build_auxiliaries(WEIGHTS, model, (JOINT,))
    with torch.no_grad():
        inputs = _inputs(tiny, model, auxiliaries, "attribute")
    outputs = inputs.outputs
    length, hidden = outputs.hidden_states[LAYER].shape
    positions = torch.arange(length, dtype=torch.float32)[:, None].expand(length, hidden)
    read = []
    probe = auxiliaries["object_facts"].read
    monkeypatch.setattr(probe, "loss", lambda states, labels, targets: read.append(states))
    states = list(outputs.hidden_states)
    states[LAYER] = positions
    outputs.hidden_states = tuple(states)
    auxiliaries["object_facts"].loss(inputs)
    rows = read[0][:, 0].long()
    sparse, per_frame = 8, (len(inputs.features.video_tokens) - 8) // 4
    first_dense = outputs.video_start + sparse
    assert rows.min() >= first_dense + per_frame  # not the first dense frame
    assert rows.max() < first_dense + 4 * per_frame  # not past the video
    assert len(rows) == len(set(rows.tolist())) > 0


def test_centres_and_shared_mass_by_hand():
    masks = np.zeros((2, 2, 10, 20), bool)
    masks[0, 0, 0:2, 0:4] = True  # centre (1.5 / 20, 0.5 / 10)
    masks[0, 1, 8:10, 16:20] = True  # centre (17.5 / 20, 8.5 / 10)
    np.testing.assert_allclose(centres(masks)[0], [(1.5 + 17.5) / 40, (0.5 + 8.5) / 20])
    np.testing.assert_allclose(centres(masks)[1], [0.5, 0.5])  # never visible
    same = torch.zeros(2, 1, 4, 4)
    same[:, 0, :2] = 1.0  # both tracks claim the same 8 pixels
    assert shared_mass(same) == pytest.approx(8 / 9)
    apart = torch.zeros(2, 1, 4, 4)
    apart[0, 0, :2], apart[1, 0, 2:] = 1.0, 1.0
    assert shared_mass(apart) == 0


def test_separation_only_for_answers_with_several_tracks(tiny):
    model = tiny.model
    auxiliaries = build_auxiliaries(WEIGHTS, model, (JOINT,))
    with torch.no_grad():
        several = _inputs(tiny, model, auxiliaries, "several")
        single = _inputs(tiny, model, auxiliaries, "attribute")
        assert auxiliaries["track_separation"].loss(several) > 0
        assert auxiliaries["track_separation"].loss(single) is None
        assert torch.isfinite(auxiliaries["track_facts"].loss(several))


def test_batched_appearance_decoding_equals_one_prompt_at_a_time(tiny):
    model = tiny.model
    torch.manual_seed(0)
    embeddings = torch.randn(3, model.sam.prompt_encoder.embed_dim, 8, 8)
    prompts = torch.randn(4, model.config.out_dim)
    with torch.no_grad():
        batched = decode_prompts(model, embeddings, prompts)
        one_by_one = torch.cat([model.decode_masks(embeddings, p)[0] for p in prompts])
    assert torch.allclose(batched, one_by_one, atol=1e-5)
