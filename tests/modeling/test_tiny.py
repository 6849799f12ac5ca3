"""Small models built from scratch load and run through the same path as the published one."""

from __future__ import annotations

import numpy as np
import pytest

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import create_tiny_checkpoint

SENTENCES = [
    "Please segment the red circle.",
    "Sure, it is <TRK>.",
    "How many objects are there?",
    "There are 3 objects.",
] * 10


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> VideoLISAPipeline:
    folder = create_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", SENTENCES)
    return VideoLISAPipeline.from_pretrained(folder, device="cpu")


def test_tiny_checkpoint_uses_trk_and_runs(tiny):
    assert tiny.tokenizer.track_token == "<TRK>"
    frames = np.random.default_rng(0).integers(0, 255, (5, 70, 90, 3), dtype=np.uint8)
    encoded = tiny.encode(frames, num_sparse=8, num_dense=2)
    assert encoded.video_tokens.shape == (8 + 2 * 64, 64)
    answer = tiny.answer(
        encoded, [], "Please segment the red circle.", forced_answer="Sure, it is <TRK> and <TRK>."
    )
    assert answer.text == "Sure, it is <TRK> and <TRK>." and answer.num_tracks == 2
    masks = tiny.track_masks(encoded, answer.track_embeddings, decode_batch=2)
    assert masks.shape == (2, 5, 70, 90)


def test_trained_tokenizer_keeps_text_as_written(tiny):
    text = "Line one\n  two spaces, [SEG] <|end|> ünïcode ✓"
    ids = tiny.tokenizer.encode([text])
    # The published rules prefix a chunk with "▁", which decodes to one leading space.
    assert tiny.tokenizer.decode(ids) == " " + text
    assert not set(ids[1:]) & set(tiny.tokenizer.added_tokens.values())
