"""4-bit and 8-bit LLMs (bitsandbytes, CPU backend) load the golden checkpoint and segment."""

from __future__ import annotations

import bitsandbytes as bnb
import pytest
from safetensors.torch import load_file

from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.pipeline import VideoLISAPipeline

QUESTION = "Please segment the moving red square in this image."


@pytest.mark.parametrize(
    ("mode", "layer"), [("4bit", bnb.nn.Linear4bit), ("8bit", bnb.nn.Linear8bitLt)]
)
def test_quantised_llm_segments(golden_dir, mode, layer):
    pipeline = VideoLISAPipeline.from_pretrained(
        golden_dir, dtype="float32", device="cpu", quantization=mode
    )
    llm_layers = list(pipeline.model.llm.model.layers.modules())
    assert sum(isinstance(m, layer) for m in llm_layers) == 2 * 4  # qkv, o, gate_up, down
    assert not isinstance(pipeline.model.llm.lm_head, layer)
    assert not any(isinstance(m, layer) for m in pipeline.model.sam.modules())
    recorded = load_file(str(golden_dir / "golden.safetensors"))
    encoded = pipeline.encode(recorded["video_rgb_uint8"].numpy(), EncodeSettings(4, 2))
    answer = pipeline.answer(encoded, [], QUESTION, forced_answer="Sure, [SEG].")
    masks = pipeline.track_masks(encoded, answer.track_embeddings)
    assert masks.shape == (1, 6, 40, 56)
    # Quantisation perturbs a random model's prompt embedding, not the whole decision.
    agreement = (masks[0] == recorded["pred_masks_binary"].numpy()).mean()
    assert agreement > 0.9
