"""Appearance queries: SAM's loss for every colour+shape in a video, and the pull of each
``<TRK>`` embedding towards its object's query."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.toyworld import ObjectSpec, Sample
from videolisa.training.auxiliary.appearance import AppearanceQueries

SIDE = 64


def _object(obj_id: int, colour: str, shape: str) -> ObjectSpec:
    return ObjectSpec(obj_id, shape, colour, 10, (20.0, 20.0), (0.0, 0.0), obj_id, False)


def _sample(appearances: list[tuple[str, str]], masks: np.ndarray) -> Sample:
    frames = np.random.default_rng(0).integers(0, 255, (2, SIDE, SIDE, 3), dtype=np.uint8)
    objects = tuple(_object(i, c, s) for i, (c, s) in enumerate(appearances))
    return Sample(frames, masks, objects, (), "attribute", "v")


def _boxes() -> np.ndarray:
    """(3, 2, 64, 64): three disjoint boxes on two frames."""
    masks = np.zeros((3, 2, SIDE, SIDE), bool)
    for n, left in enumerate((4, 24, 44)):
        masks[n, :, 10:30, left : left + 14] = True
    return masks


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> VideoLISAPipeline:
    folder = create_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", ["red circle"] * 20)
    return VideoLISAPipeline.from_pretrained(folder, device="cpu")


@pytest.fixture
def queries(tiny) -> AppearanceQueries:
    torch.manual_seed(0)
    return AppearanceQueries(tiny.model.sam.prompt_encoder.embed_dim)


def _sam_embeddings(tiny, sample):
    resized = tiny.preprocessor.sam_resized(sample.frames)
    images = tiny.model.sam.preprocess(resized.float())
    return tiny.model.sam_image_embeddings(images), (int(resized.shape[2]), int(resized.shape[3]))


def test_objects_that_look_alike_are_one_target(tiny, queries):
    masks = _boxes()
    alike = _sample([("red", "circle"), ("red", "circle"), ("blue", "square")], masks)
    merged_masks = np.stack([masks[0] | masks[1], masks[2]])
    merged = _sample([("red", "circle"), ("blue", "square")], merged_masks)
    with torch.no_grad():
        embeddings, resized_hw = _sam_embeddings(tiny, alike)
        a = queries.mask_losses(tiny.model, embeddings, alike, [0, 1], resized_hw)
        b = queries.mask_losses(tiny.model, embeddings, merged, [0, 1], resized_hw)
        c = queries.mask_losses(tiny.model, embeddings, merged, [1, 0], resized_hw)
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y)
    assert torch.allclose(b[0], c[0]) and torch.isfinite(b[0])


@pytest.mark.slow
def test_the_mask_loss_trains_the_queries_and_the_decoder(tiny, queries):
    sample = _sample([("red", "circle"), ("green", "star"), ("blue", "square")], _boxes())
    with torch.no_grad():
        embeddings, resized_hw = _sam_embeddings(tiny, sample)
    model = copy.deepcopy(tiny.model)
    trained = [*queries.parameters(), *model.sam.mask_decoder.parameters()]
    optimizer = torch.optim.Adam(trained, lr=1e-2)
    losses = []
    for _ in range(20):
        bce, dice = queries.mask_losses(model, embeddings, sample, [0, 1], resized_hw)
        optimizer.zero_grad()
        (bce + dice).backward()
        optimizer.step()
        losses.append(float((bce + dice).detach()))
    assert losses[-1] < 0.9 * losses[0], losses


def test_alignment_only_for_objects_whose_look_is_unique(queries):
    sample = _sample([("red", "circle"), ("red", "circle"), ("blue", "square")], _boxes())
    embeddings = torch.randn(2, queries.colour.embedding_dim, requires_grad=True)
    assert queries.alignment_loss(embeddings, sample, (0, 1)) is None
    loss = queries.alignment_loss(embeddings, sample, (1, 2))
    expected = ((embeddings[1] - queries([("blue", "square")])[0]) ** 2).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert embeddings.grad[0].abs().sum() == 0 and embeddings.grad[1].abs().sum() > 0
    assert queries.colour.weight.grad is None  # the queries are the fixed target
