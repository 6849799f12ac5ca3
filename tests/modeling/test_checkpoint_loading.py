"""Loading checkpoints: formats, round trips and the errors for broken folders."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from videolisa.errors import CheckpointError
from videolisa.modeling.checkpoint import load_model, save_checkpoint


def _copy_without_weights(golden_dir, folder):
    folder.mkdir()
    for item in golden_dir.iterdir():
        if item.name != "model.safetensors":
            (folder / item.name).symlink_to(item)
    return load_file(str(golden_dir / "model.safetensors"))


def _same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pytorch_bin_shards_load_like_safetensors(golden_dir, tmp_path):
    state = _copy_without_weights(golden_dir, tmp_path / "bin")
    keys = sorted(state)
    half = len(keys) // 2
    for index, part in enumerate((keys[:half], keys[half:])):
        torch.save({k: state[k] for k in part}, tmp_path / "bin" / f"pytorch_model-0000{index}.bin")
    _same_weights(load_model(tmp_path / "bin").model, load_model(golden_dir).model)


def test_missing_key_is_named(golden_dir, tmp_path):
    state = _copy_without_weights(golden_dir, tmp_path / "ck")
    del state["model.text_hidden_fcs.0.2.bias"]
    save_file(state, str(tmp_path / "ck" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.text_hidden_fcs\.0\.2\.bias"):
        load_model(tmp_path / "ck")


def test_unexpected_key_is_named(golden_dir, tmp_path):
    state = _copy_without_weights(golden_dir, tmp_path / "ck")
    state["model.visual_model.extra_head.weight"] = torch.zeros(2)
    save_file(state, str(tmp_path / "ck" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.visual_model\.extra_head\.weight"):
        load_model(tmp_path / "ck")


def test_clip_may_be_absent_from_the_checkpoint(golden_dir, tmp_path):
    state = _copy_without_weights(golden_dir, tmp_path / "ck")
    state = {k: v for k, v in state.items() if "vision_tower" not in k}
    save_file(state, str(tmp_path / "ck" / "model.safetensors"))
    _same_weights(load_model(tmp_path / "ck").model, load_model(golden_dir).model)


def test_folder_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"config\.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    with pytest.raises(CheckpointError, match="No weights"):
        load_model(tmp_path)


def test_unreachable_hub_id_says_how_to_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="local folder"):
        load_model("nobody/not-a-model")


def test_save_then_load_round_trip(golden_dir, tmp_path):
    loaded = load_model(golden_dir)
    save_checkpoint(loaded.model, loaded.tokenizer, tmp_path / "saved")
    shutil.copytree(
        golden_dir / "clip-vit-tiny-patch14-336", tmp_path / "saved" / "clip-vit-tiny-patch14-336"
    )
    again = load_model(tmp_path / "saved")
    _same_weights(again.model, loaded.model)
    assert again.tokenizer.track_token == "[SEG]"
    assert again.model.config.sam == loaded.model.config.sam
