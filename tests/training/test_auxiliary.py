"""The auxiliary-loss registry: names, stages, what gets built and what trains when."""

from __future__ import annotations

import pytest

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.training.auxiliary import AUXILIARIES, JOINT, NAMES, SAM, STAGES, build_auxiliaries
from videolisa.training.config import TrainConfig
from videolisa.training.optimizer import parameter_groups
from videolisa.training.trainer import METRICS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = create_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", ["red circle"] * 20)
    return VideoLISAPipeline.from_pretrained(folder, device="cpu").model


def test_every_auxiliary_has_a_unique_name_a_column_and_known_stages():
    assert len(set(NAMES)) == len(NAMES)
    assert set(NAMES) <= set(METRICS)
    for auxiliary in AUXILIARIES:
        assert auxiliary.stages and auxiliary.stages <= set(STAGES), auxiliary
        assert set(auxiliary.requires) <= set(NAMES), auxiliary


def test_only_auxiliaries_with_a_weight_somewhere_are_built(model):
    weights = {"attribute_probe": 1.0, "patch_probe": 0.0}
    assert list(build_auxiliaries(weights, model, (JOINT,))) == ["attribute_probe"]
    # the SAM-only warm-up is the point prompts' own task: weight 1 there whatever is set
    built = build_auxiliaries(weights, model, (SAM, JOINT))
    assert list(built) == ["point_prompts", "attribute_probe"]
    points = built["point_prompts"]
    assert points.weight_in(SAM) == 1 and points.weight_in(JOINT) == 0
    assert built["attribute_probe"].weight_in(SAM) == 0


def test_an_auxiliarys_parameters_train_only_in_its_stages(model):
    weights = {"attribute_probe": 1.0, "appearance_queries": 0.5}
    config = TrainConfig(output_dir="o", auxiliary_weights=weights, sam_pretrain_steps=5)
    built = build_auxiliaries(weights, model, (SAM, JOINT))
    for stage, expected in ((SAM, {"appearance_queries"}), (JOINT, set(weights))):
        groups = parameter_groups(model, built, config, stage)
        trained = {id(p) for g in groups for p in g["params"]}
        own = {n for n, a in built.items() if any(id(p) in trained for p in a.parameters())}
        assert own == expected, stage
    assert all(p.requires_grad for p in model.llm.parameters())  # joint was set last
