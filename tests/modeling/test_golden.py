"""The published implementation's numbers, recorded in ../shared/golden, reproduced."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.chat_template import Message

QUESTION = "Please segment the moving red square in this image."
ANSWER = "Sure, [SEG]."
TOL = 1e-5
CASES = {
    "main": "golden.safetensors",
    "case2_short_video": "golden_case2_short_video.safetensors",
    "case3_sliding_window": "golden_case3_sliding_window.safetensors",
}


@pytest.fixture(scope="module")
def sliding_window_pipeline(golden_dir, tmp_path_factory):
    """The golden checkpoint with config.sliding_window = 300 (< the 1238-token sequence)."""
    folder = tmp_path_factory.mktemp("golden_sw300")
    for item in golden_dir.iterdir():
        if item.name != "config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((golden_dir / "config.json").read_text())
    config["sliding_window"] = 300
    (folder / "config.json").write_text(json.dumps(config))
    return VideoLISAPipeline.from_pretrained(folder, dtype="float32", device="cpu")


def _inputs(golden_dir, case: str) -> dict[str, torch.Tensor]:
    recorded = load_file(str(golden_dir / CASES[case]))
    if "video_rgb_uint8" not in recorded:  # case 3 records outputs only; inputs are main's
        recorded = {**load_file(str(golden_dir / CASES["main"])), **recorded}
    return recorded


def _close(name: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape, name
    diff = (actual.float() - expected.float()).abs().max().item()
    assert diff <= TOL, f"{name}: max abs diff {diff:.2e} > {TOL}"


def _equal(name: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Bit for bit: the preprocessing reproduces the published pixels exactly."""
    assert actual.shape == expected.shape, name
    assert actual.dtype == expected.dtype, name
    assert torch.equal(actual, expected), f"{name}: max abs diff {(actual - expected).abs().max()}"


def _check_case(pipeline: VideoLISAPipeline, g: dict[str, torch.Tensor]) -> None:
    frames = g["video_rgb_uint8"].numpy()
    ids = pipeline.prompt_ids([Message("user", QUESTION), Message("assistant", ANSWER)], False)
    assert ids == g["input_ids"][0].tolist()

    encoded = pipeline.encode(frames, EncodeSettings(4, 2))
    assert list(encoded.sampling.sparse) == g["sparse_indices"].tolist()
    assert list(encoded.sampling.dense) == g["dense_indices"].tolist()
    clip_pixels = pipeline.preprocessor.clip_pixels(frames, encoded.sampling.sparse)
    _equal("images_clip", clip_pixels, g["images_clip"][0])
    resized = pipeline.preprocessor.sam_resized(frames)
    _equal("images_sam", pipeline.model.sam.preprocess(resized.float()), g["images_sam"][0])
    _close("video_tokens", encoded.video_tokens, g["video_tokens"][0])
    assert encoded.resized_hw == tuple(g["resize_hw"].tolist())

    with torch.inference_mode():
        embeds = pipeline.model.embed_prompt(torch.tensor(ids), encoded.video_tokens)
        hidden = pipeline.model.llm.model(inputs_embeds=embeds).last_hidden_state
    _close("llm_last_hidden_state", hidden, g["llm_last_hidden_state"])

    answer = pipeline.answer(encoded, [], QUESTION, forced_answer=ANSWER)
    assert answer.text == "Sure, <TRK>."
    _close("pred_embeddings", answer.track_embeddings, g["pred_embeddings"])
    with torch.inference_mode():
        low_res, _ = pipeline.model.decode_masks(encoded.sam_embeddings, answer.track_embeddings[0])
    _close("low_res_masks", low_res, g["low_res_masks"])
    logits = pipeline.mask_logits(encoded, encoded.sam.get(slice(None)), answer.track_embeddings[0])
    _close("pred_masks", logits, g["pred_masks"])
    masks = pipeline.track_masks(encoded, answer.track_embeddings, decode_batch=4)
    assert np.array_equal(masks[0], g["pred_masks_binary"].numpy())


@pytest.mark.parametrize("case", ["main", "case2_short_video"])
def test_matches_published_implementation_twice(golden_pipeline, golden_dir, case):
    recorded = _inputs(golden_dir, case)
    for _ in range(2):  # golden fact 4: a second call must give the same numbers
        _check_case(golden_pipeline, recorded)


def test_sliding_window_matches_transformers4_rule(sliding_window_pipeline, golden_dir):
    recorded = _inputs(golden_dir, "case3_sliding_window")
    for _ in range(2):
        _check_case(sliding_window_pipeline, recorded)


def test_eager_and_sdpa_attention_agree(golden_dir):
    recorded = _inputs(golden_dir, "main")
    eager = VideoLISAPipeline.from_pretrained(
        golden_dir, dtype="float32", device="cpu", attn_implementation="eager"
    )
    _check_case(eager, recorded)


def test_bfloat16_stays_close_to_the_recorded_bfloat16_run(golden_dir):
    recorded = _inputs(golden_dir, "main")
    pipeline = VideoLISAPipeline.from_pretrained(golden_dir, dtype="bfloat16", device="cpu")
    encoded = pipeline.encode(recorded["video_rgb_uint8"].numpy(), EncodeSettings(4, 2))
    answer = pipeline.answer(encoded, [], QUESTION, forced_answer=ANSWER)
    logits = pipeline.mask_logits(encoded, encoded.sam.get(slice(None)), answer.track_embeddings[0])
    for name, actual in (("pred_embeddings", answer.track_embeddings), ("pred_masks", logits)):
        diff = (actual.float() - recorded[f"bf16.{name}"].float()).abs().max().item()
        assert diff < 3e-2, f"{name}: {diff}"
    agreement = ((logits > 0) == recorded["pred_masks_binary"]).float().mean().item()
    assert agreement > 0.98
