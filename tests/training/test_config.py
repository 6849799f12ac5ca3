"""Training configs: validated, and identical after a save/load round trip."""

from __future__ import annotations

import pytest

from videolisa.errors import ConfigError
from videolisa.training.config import LoraSettings, TrainConfig, lr_factor


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
        ({"output_dir": "o", "steps": 10, "warmup_steps": 4, "decay_steps": 7}, "exceed"),
        ({"output_dir": "o", "decay_steps": -1}, "decay_steps"),
    ],
)
def test_bad_values_say_what_is_allowed(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        TrainConfig.load(tmp_path / "nope.json")


def test_learning_rate_warms_up_holds_and_decays_to_zero():
    config = TrainConfig(output_dir="o", steps=10, warmup_steps=2, decay_steps=4)
    factors = [lr_factor(config, step) for step in range(10)]
    assert factors == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert all(lr_factor(TrainConfig(output_dir="o"), s) == 1 for s in range(0, 1000, 99))
