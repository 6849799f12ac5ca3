"""``python -m videolisa bench``: a real run on the golden tiny model, and ``--dry-run``."""

from __future__ import annotations

import json
import time

import pytest

from videolisa.cli import main

GB = 10**9
STAGES = (
    "decode",
    "clip_preprocess",
    "clip_encode",
    "llm_prefill",
    "generation",
    "sam_resize",
    "sam_encode",
    "mask_decode",
    "render_encode",
)


def test_bench_reports_every_stage(golden_dir, tmp_path, capsys, encode_calls):
    out = tmp_path / "bench.json"
    start = time.perf_counter()
    args = ["bench", "--model", str(golden_dir), "--frames", "16", "--size", "64x48"]
    args += ["--sam-batch", "2"]
    assert main([*args, "--frames-sparse", "4", "--frames-dense", "2", "--json", str(out)]) == 0
    assert time.perf_counter() - start < 30
    assert encode_calls and all(call["sam_batch"] == 2 for call in encode_calls)
    report = json.loads(out.read_text())
    assert set(STAGES) <= set(report["stages"])
    for name in STAGES:
        stage = report["stages"][name]
        rate = next(v for k, v in stage.items() if k.endswith("_per_s"))
        assert stage["seconds"] > 0 and stage["items"] > 0 and rate > 0, name
    for key in ("first_turn_s", "followup_s", "followup_speedup", "batched_decode_speedup"):
        assert report[key] > 0, key
    assert report["peak_rss_mb"] > 0
    # Both speedups come from timings of this same run.
    assert report["followup_speedup"] == pytest.approx(
        report["followup_uncached_s"] / report["followup_s"]
    )
    assert report["batched_decode_speedup"] == pytest.approx(
        report["per_frame_decode_s"] / report["stages"]["mask_decode"]["seconds"]
    )
    assert report["stages"]["decode"]["items"] == 16
    assert report["stages"]["clip_encode"]["items"] == 4
    scaling = report["memory_scaling"]
    assert [p["num_frames"] for p in scaling] == [16, 64]
    for point in scaling:
        assert point["kept_frames"] < point["num_frames"]
        assert 0 < point["store_peak_bytes"] <= point["budget_bytes"]
    assert "first turn" in capsys.readouterr().out


@pytest.mark.slow
def test_dry_run_of_the_published_config(golden_dir, tmp_path, capsys):
    out = tmp_path / "estimate.json"
    config = golden_dir.parent / "config-videolisa-3.8b.guess.json"
    assert main(["bench", "--dry-run", "--config", str(config), "--json", str(out)]) == 0
    weights = json.loads(out.read_text())["weights"]
    assert weights["LLM"]["bf16"] / GB == pytest.approx(7.6, abs=0.3)
    assert 2.0 <= weights["LLM"]["4bit"] / GB <= 2.6
    assert weights["LLM"]["4bit"] < weights["LLM"]["8bit"] < weights["LLM"]["bf16"]
    assert weights["CLIP"]["bf16"] / GB == pytest.approx(0.6, abs=0.05)
    assert weights["SAM"]["bf16"] / GB == pytest.approx(1.3, abs=0.05)
    total = sum(part["params"] for part in weights.values())
    assert total == pytest.approx(4.79e9, abs=0.01e9)  # keys-videolisa-3.8b.json's count
    assert "4bit" in capsys.readouterr().out
    small = tmp_path / "small.json"
    argv = ["bench", "--dry-run", "--config", str(config), "--sam-batch", "2"]
    assert main([*argv, "--json", str(small)]) == 0
    attention = json.loads(out.read_text())["activations"]["SAM encoder attention, batch of 8"]
    smaller = json.loads(small.read_text())["activations"]["SAM encoder attention, batch of 2"]
    assert smaller["bfloat16"] * 4 == attention["bfloat16"]
    assert "SAM encoder attention, batch of 2" in capsys.readouterr().out


def test_dry_run_counts_a_checkpoints_parameters(golden_dir, tmp_path):
    out = tmp_path / "estimate.json"
    assert main(["bench", "--dry-run", "--model", str(golden_dir), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert sum(part["params"] for part in report["weights"].values()) == 304_678
    sam = report["activations"]["SAM embeddings, all frames"]
    assert sam["float32"] == 64 * 32 * 8 * 8 * 4  # 64 frames of (32, 8, 8) float32


def test_missing_bundled_model_says_to_pass_model(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "videolisa-toy"
    monkeypatch.setattr("videolisa.cli.options.DEFAULT_MODEL", missing)
    monkeypatch.setattr("videolisa.cli.bench.DEFAULT_MODEL", missing)
    assert main(["bench", "--frames", "4"]) == 2
    assert "--model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["--size", "64by48"], ["--max-memory", "lots"], ["--scaling-frames", "a,b"]]
)
def test_bad_options_are_named(golden_dir, args, capsys):
    assert main(["bench", "--model", str(golden_dir), *args]) == 2
    assert args[0] in capsys.readouterr().err


def test_dry_run_compares_the_three_ways_of_making_masks(golden_dir, tmp_path, capsys):
    out = tmp_path / "estimate.json"
    config = golden_dir.parent / "config-videolisa-3.8b.guess.json"
    argv = ["bench", "--dry-run", "--config", str(config), "--frames", "64", "--tracks", "2"]
    assert main([*argv, "--json", str(out)]) == 0
    modes = json.loads(out.read_text())["modes"]
    assert list(modes) == ["one_token_seg_all", "refine_sam2", "propagate_sam2"]
    vit = modes["one_token_seg_all"]["gflop"]["SAM ViT encoder"] / 64
    assert 5_000 < vit < 7_000  # SAM ViT-H at 1024 px: ~3 T multiply-adds a frame
    assert modes["propagate_sam2"]["gflop"]["SAM ViT encoder"] == pytest.approx(4 * vit)
    refine, propagate = modes["refine_sam2"]["gflop"], modes["propagate_sam2"]["gflop"]
    assert refine["SAM 2 tracking"] == propagate["SAM 2 tracking"] > 0
    totals = {mode: value["total_gflop"] for mode, value in modes.items()}
    assert totals["propagate_sam2"] < totals["one_token_seg_all"] < totals["refine_sam2"]
    assert "facebook/sam2.1-hiera-tiny, 39.0M parameters" in capsys.readouterr().out


def test_dry_run_of_a_sam2_folder(golden_dir, tmp_path):
    from tests.inference.tiny_trackers import tiny_sam2_checkpoint

    sam2 = tiny_sam2_checkpoint(tmp_path / "tiny-sam2")
    out = tmp_path / "estimate.json"
    argv = ["bench", "--dry-run", "--model", str(golden_dir), "--refine-model", str(sam2)]
    assert main([*argv, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["modes"]["refine_sam2"]["gflop"]["SAM 2 tracking"] > 0
