"""Training configs: validated, and identical after a save/load round trip."""

from __future__ import annotations

import pytest

from videolisa.errors import ConfigError
from videolisa.training.config import LoraSettings, TrainConfig


def test_round_trip(tmp_path):
    config = TrainConfig(
        output_dir="runs/toy",
        toyworld_kinds=("attribute", "motion"),
        curriculum_steps=(200,),
        lora=LoraSettings(r=4),
        head_lr=1e-4,
    )
    config.save(tmp_path / "train_config.json")
    assert TrainConfig.load(tmp_path / "train_config.json") == config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"output_dir": "o", "lr_typo": 1}, "Unknown training option"),
        ({"output_dir": "o", "data": "kinetics"}, "Allowed: toyworld"),
        ({"output_dir": "o", "init": "pretrained"}, "init_from"),
        ({"output_dir": "o", "toyworld_kinds": ["attribute", "motion"]}, "curriculum_steps"),
        ({"output_dir": "o", "steps": 0}, "steps"),
        ({"output_dir": "o", "lora": {"r": 8, "dropout": 1.5}}, "dropout"),
    ],
)
def test_bad_values_say_what_is_allowed(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        TrainConfig.load(tmp_path / "nope.json")
