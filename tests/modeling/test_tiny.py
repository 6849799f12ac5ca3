"""Small models built from scratch load and run through the same path as the published one."""

from __future__ import annotations

import numpy as np
import pytest

from videolisa.inference.encoded_video import EncodeSettings
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
    encoded = tiny.encode(frames, EncodeSettings(8, 2))
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


def test_frame_counts_default_to_the_models_own(tiny, tmp_path):
    import json

    assert tiny.default_frames == (32, 4)  # no record: the published model's
    config_file = tiny.folder / "config.json"
    config = json.loads(config_file.read_text())
    config.update(frames_sparse=6, frames_dense=3)
    config_file.write_text(json.dumps(config))
    reloaded = VideoLISAPipeline.from_pretrained(tiny.folder, device="cpu")
    frames = np.zeros((10, 64, 64, 3), dtype=np.uint8)
    encoded = reloaded.encode(frames)
    assert len(encoded.sampling.sparse) == 6 and len(encoded.sampling.dense) == 3


def test_the_llm_comes_from_its_text_config_and_the_template_from_the_checkpoint(tiny):
    import json

    from transformers import Phi3ForCausalLM

    from videolisa.modeling.config import transformers4_sliding_window

    config = json.loads((tiny.folder / "config.json").read_text())
    assert config["videolisa_chat_template"] == "phi3_instruct"  # recorded on save
    pipeline = tiny
    assert type(pipeline.model.llm) is Phi3ForCausalLM  # AutoModelForCausalLM's choice
    assert pipeline.template.name == "phi3_instruct"
    assert transformers4_sliding_window({"sliding_window": 2047}) == {"sliding_window": 2048}
    assert transformers4_sliding_window({"sliding_window": None}) == {"sliding_window": None}
