"""``bench --random-init``: the published architecture with random weights, timed per stage;
``--scale tiny`` on a CPU here, the full size on the meta device (and on a GPU in tests/gpu)."""

from __future__ import annotations

import json
import sys

import pytest

from videolisa.cli import main
from videolisa.profiling.random_model import architecture, meta_model

FIRST_STAGES = (
    "clip_preprocess",
    "clip_encode",
    "sam_resize",
    "sam_encode",
    "encode_other",
    "llm",
    "mask_decode",
)
TINY_VIDEO = ["--frames", "12", "--size", "96x64"]


@pytest.fixture(scope="module")
def golden_keys(golden_dir):
    return json.loads((golden_dir.parent / "keys-videolisa-3.8b.json").read_text())


def test_tiny_random_init_times_both_questions_per_stage(tmp_path, capsys):
    out = tmp_path / "random.json"
    args = ["bench", "--random-init", "--scale", "tiny", *TINY_VIDEO, "--device", "cpu"]
    assert main([*args, "--sam-batch", "4", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert tuple(report["first_question"]) == FIRST_STAGES
    assert set(report["followup"]) == {"llm", "mask_decode"}
    assert all(seconds >= 0 for seconds in report["first_question"].values())
    assert report["first_question"]["sam_encode"] > 0 and report["followup"]["llm"] > 0
    assert report["first_question_s"] == pytest.approx(sum(report["first_question"].values()))
    # the published frame counts (32 sparse / 4 dense, 576 tokens per dense frame) are kept
    assert (report["frames_sparse"], report["frames_dense"], report["sam_batch"]) == (32, 4, 4)
    assert report["sequence_length"] > 32 + 4 * 576
    assert report["tracks"] == 1 and report["masks"] == "plain"
    assert report["peak_rss_mb"] > 0 and report["peak_gpu_mb"] is None
    assert report["estimate_gb"] > 0 and report["estimate_precision"] == "bf16"
    printed = capsys.readouterr().out
    assert "clip_preprocess" in printed and "follow-up" in printed and "estimate" in printed


@pytest.mark.parametrize("tracker", ["sam2", "sam3"])
def test_tiny_random_init_propagates_with_a_random_tracker(tracker, tmp_path):
    out = tmp_path / "propagate.json"
    args = ["bench", "--random-init", "--scale", "tiny", *TINY_VIDEO, "--device", "cpu"]
    assert main([*args, "--propagate", tracker, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["masks"] == "propagate" and report["tracker"].startswith(tracker)
    assert set(report["followup"]) == {"llm", "tracking"}


def test_the_full_architecture_is_the_published_one(golden_keys):
    """Every parameter of the published model at its shape (golden key list), 4.79 B in all."""
    from videolisa.modeling.checkpoint import to_published_key

    model = meta_model()
    shapes = {to_published_key(k): list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {entry["key"]: entry["shape"] for entry in golden_keys["keys_full"]}
    total = sum(v.numel() for v in model.state_dict().values())  # SAM's PE matrix is a buffer
    assert total == golden_keys["num_params_full"]


def test_tiny_scale_keeps_the_token_counts_and_shrinks_the_rest():
    config, vision = architecture(scale="tiny")
    full, full_vision = architecture()
    assert (vision.image_size, vision.patch_size) == (full_vision.image_size, 14)
    assert config.llm_config().sliding_window == full.llm_config().sliding_window
    assert config.vocab_size == full.vocab_size
    assert config.hidden_size < full.hidden_size and config.sam.img_size < full.sam.img_size


def test_quantization_without_bitsandbytes_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    args = ["bench", "--random-init", "--scale", "tiny", *TINY_VIDEO, "--device", "cpu"]
    assert main([*args, "--load-4bit"]) == 2
    assert "bitsandbytes, which is not installed" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--scale", "tiny"], ["--propagate", "sam2"]])
def test_random_init_options_need_random_init(option, capsys):
    assert main(["bench", "--model", "x", *option]) == 2
    assert "--random-init" in capsys.readouterr().err
