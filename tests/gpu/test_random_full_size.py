"""The published architecture at full size with random weights, on a CUDA device: shapes,
dtypes and devices agree in bfloat16, 4-bit and 8-bit; the per-frame work makes no
host-device copies per frame (counted with the profiler); memory stays below the dry-run
estimate that docs/performance.md quotes. Skipped without CUDA (run with ``-m gpu``)."""

from __future__ import annotations

import gc
import importlib.util
import re

import numpy as np
import pytest
import torch

from videolisa.inference.encoded_video import EncodeSettings
from videolisa.modeling.tokenizer import FORCED_ANSWER
from videolisa.profiling.estimate import estimate_memory
from videolisa.profiling.random_model import meta_model, random_pipeline
from videolisa.profiling.synthetic import synthetic_video

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
QUESTION = "Please segment the red square in this video."
FRAMES, HEIGHT, WIDTH = 16, 720, 1280
PRECISIONS = {"bf16": None, "4bit": "4bit", "8bit": "8bit"}
MEMCPY = re.compile(r"Memcpy (HtoD|DtoH)")
GB = 10**9


@pytest.fixture(scope="module", params=list(PRECISIONS))
def full_size(request, tmp_path_factory):
    quantization = PRECISIONS[request.param]
    if quantization and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    workdir = tmp_path_factory.mktemp(f"random-{request.param}")
    pipeline = random_pipeline(workdir, dtype="bfloat16", device="cuda", quantization=quantization)
    yield request.param, pipeline
    del pipeline
    gc.collect()
    torch.cuda.empty_cache()


@pytest.fixture(scope="module")
def frames():
    return synthetic_video(FRAMES, HEIGHT, WIDTH)


def test_shapes_dtypes_and_devices_agree(full_size, frames):
    precision, pipeline = full_size
    model = pipeline.model
    encoded = pipeline.encode(frames, EncodeSettings(sam_batch=8))
    assert encoded.video_tokens.shape == (32 + 4 * 576, 3072)
    assert encoded.video_tokens.device.type == "cuda"
    assert encoded.video_tokens.dtype == torch.bfloat16
    embeddings = encoded.sam.get(slice(None))
    assert embeddings.shape == (FRAMES, 256, 64, 64)
    assert (embeddings.device.type, embeddings.dtype) == ("cuda", torch.bfloat16)
    assert encoded.resized_hw == (576, 1024)
    answer = pipeline.answer(encoded, [], QUESTION, forced_answer=FORCED_ANSWER)
    assert answer.track_embeddings.shape == (1, 256)
    assert answer.track_embeddings.device.type == "cuda"
    masks = pipeline.track_masks(encoded, answer.track_embeddings)
    assert masks.shape == (1, FRAMES, HEIGHT, WIDTH) and masks.dtype == np.bool_
    linear = type(model.llm.model.layers[0].self_attn.o_proj).__name__
    assert linear == {"bf16": "Linear", "4bit": "Linear4bit", "8bit": "Linear8bitLt"}[precision]
    assert all(p.device.type == "cuda" for p in model.parameters())
    sam_pe = model.sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
    assert (sam_pe.device.type, sam_pe.dtype) == ("cuda", torch.float32)


def _copies(work) -> int:
    """Host-device copies (either way) the CUDA profiler records while ``work`` runs."""
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        work()
        torch.cuda.synchronize()
    return sum(1 for event in profile.events() if MEMCPY.search(event.name))


def test_copies_follow_chunks_not_frames(full_size, frames):
    """Twice the frames in the same number of chunks: the same number of copies, so none is
    made per frame (SAM's encoder copies each chunk once; the mask decoder returns each chunk's
    masks once)."""
    _, pipeline = full_size
    longer = np.concatenate([frames, frames])
    encode_copies = [
        _copies(lambda f=f, b=b: pipeline.encode(f, EncodeSettings(sam_batch=b)))
        for f, b in ((frames, 8), (longer, 16))
    ]
    assert encode_copies[0] == encode_copies[1] >= 2  # at least each chunk's frames
    short = pipeline.encode(frames, EncodeSettings(sam_batch=8))
    long = pipeline.encode(longer, EncodeSettings(sam_batch=8))
    answer = pipeline.answer(short, [], QUESTION, forced_answer=FORCED_ANSWER)
    mask_copies = [
        _copies(lambda e=e, b=b: list(pipeline.mask_steps(e, answer.track_embeddings, b)))
        for e, b in ((short, FRAMES), (long, 2 * FRAMES))
    ]
    assert 1 <= mask_copies[0] == mask_copies[1] <= 4


def test_memory_stays_below_the_dry_run_estimate(full_size, frames):
    precision, pipeline = full_size
    torch.cuda.synchronize()
    weights = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    encoded = pipeline.encode(frames, EncodeSettings(sam_batch=8))
    answer = pipeline.answer(encoded, [], QUESTION, forced_answer=FORCED_ANSWER)
    for _chunk in pipeline.mask_steps(encoded, answer.track_embeddings):
        pass
    peak = torch.cuda.max_memory_allocated()
    estimate = estimate_memory(meta_model(), FRAMES, 32, 4, sam_batch=8)
    weights_estimate = sum(part.nbytes[precision] for part in estimate.weights)
    assert weights <= 1.05 * weights_estimate, (weights / GB, weights_estimate / GB)
    assert peak <= estimate.total(precision), (peak / GB, estimate.total(precision) / GB)
    # docs/performance.md: about 10 GB of weights in bfloat16, about 4.5 GB with 4-bit
    assert weights <= {"bf16": 10.5, "4bit": 5.0, "8bit": 6.5}[precision] * GB
