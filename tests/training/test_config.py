"""Training configs: validated, and identical after a save/load round trip."""

from __future__ import annotations

import pytest

from videolisa.errors import ConfigError
from videolisa.modeling.tiny import TinySizes
from videolisa.toyworld import WorldConfig
from videolisa.training.config import LoraSettings, TrainConfig
from videolisa.training.optimizer import lr_factor


def test_round_trip(tmp_path):
    config = TrainConfig(
        output_dir="runs/toy",
        toyworld_kinds=("attribute", "motion"),
        curriculum_steps=(200,),
        kind_weights={"motion": 2.0},
        lora=LoraSettings(r=4),
        head_lr=1e-4,
        world=WorldConfig(max_frames=24),
        model_sizes=TinySizes(hidden_size=96),
        auxiliary_weights={"patch_probe": 0.5},
    )
    config.save(tmp_path / "train_config.json")
    assert TrainConfig.load(tmp_path / "train_config.json") == config


def test_nested_settings_are_typed_and_validated():
    config = TrainConfig.from_dict(
        {"output_dir": "o", "world": {"max_frames": 24}, "model_sizes": {"num_layers": 3}}
    )
    assert config.world == WorldConfig(max_frames=24)
    assert config.model_sizes == TinySizes(num_layers=3)
    assert TrainConfig(output_dir="o", world={"max_frames": 24}) == config.__class__(
        output_dir="o", world=WorldConfig(max_frames=24)
    )


def test_the_shipped_configs_load():
    from tests.conftest import PROJECT_ROOT

    for path in sorted((PROJECT_ROOT / "configs").glob("*.json")):
        config = TrainConfig.load(path)
        assert config.auxiliary_weights, path


def test_a_config_written_before_auxiliary_weights_loads():
    old = {
        "output_dir": "o",
        "point_prompt_weight": 0.5,
        "probe_weight": 1.0,
        "appearance_weight": 1.0,
        "appearance_align_weight": 0.5,
        "patch_probe_weight": 0.0,
    }
    config = TrainConfig.from_dict(old)
    assert config.auxiliary_weights == {
        "point_prompts": 0.5,
        "attribute_probe": 1.0,
        "appearance_queries": 1.0,
        "appearance_align": 0.5,
    }
    with pytest.raises(ConfigError, match="both given"):
        TrainConfig.from_dict({**old, "auxiliary_weights": {}})


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
        ({"output_dir": "o", "kind_weights": {"text": 2.0}}, "Use some of: attribute"),
        ({"output_dir": "o", "kind_weights": {"attribute": 0}}, "positive weights"),
        ({"output_dir": "o", "world": {"max_frame": 9}}, "Allowed: .*max_frames"),
        ({"output_dir": "o", "frames_dense": 2, "mask_frames": 3}, "mask_frames"),
        ({"output_dir": "o", "toyworld_kinds": ["chat"]}, "conversation"),
        ({"output_dir": "o", "world": {"min_size": 8}}, "min_size"),
        ({"output_dir": "o", "model_sizes": {"layers": 2}}, "Allowed: .*num_layers"),
        ({"output_dir": "o", "auxiliary_weights": {"probe": 1.0}}, "Allowed: .*attribute_probe"),
        ({"output_dir": "o", "auxiliary_weights": {"patch_probe": -1}}, ">= 0"),
        ({"output_dir": "o", "auxiliary_weights": {"appearance_align": 1}}, "appearance_queries"),
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


def test_kinds_come_in_turn_or_by_weight():
    from videolisa.training.trainer import sample_kind

    kinds = ("attribute", "text", "motion")
    plain = TrainConfig(output_dir="o", toyworld_kinds=kinds, curriculum_steps=(0, 0))
    assert [sample_kind(plain, i, kinds) for i in range(4)] == [*kinds, "attribute"]
    weighted = TrainConfig.from_dict({**plain.to_dict(), "kind_weights": {"text": 3.0}})
    drawn = [sample_kind(weighted, i, kinds) for i in range(5000)]
    assert drawn == [sample_kind(weighted, i, kinds) for i in range(5000)]
    assert drawn.count("text") / len(drawn) == pytest.approx(3 / 5, abs=0.03)
    assert sample_kind(weighted, 7, ("attribute",)) == "attribute"
