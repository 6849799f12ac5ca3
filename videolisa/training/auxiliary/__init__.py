"""Training-only auxiliary losses, registered in one list.

Each is an :class:`~videolisa.training.auxiliary.base.Auxiliary`: a name (its key in the
config's ``auxiliary_weights`` and its ``metrics.csv`` column), the stages it runs in, its own
parameters and a loss on one sample. To add one, write a module with a subclass and list the
class in :data:`AUXILIARIES`; the config, the optimizer, the step and the metrics follow.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from videolisa.errors import ConfigError
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.training.auxiliary.appearance import AppearanceAlignment, AppearanceMasks
from videolisa.training.auxiliary.attribute_probe import AttributeProbe
from videolisa.training.auxiliary.base import (
    JOINT,
    SAM,
    STAGES,
    Auxiliary,
    AuxiliaryInputs,
    Stage,
)
from videolisa.training.auxiliary.object_facts import ObjectFactsProbe
from videolisa.training.auxiliary.patch_probe import PatchProbe
from videolisa.training.auxiliary.point_prompts import PointPrompts
from videolisa.training.auxiliary.track_facts import TrackFactsProbe
from videolisa.training.auxiliary.track_separation import TrackSeparation

AUXILIARIES: tuple[type[Auxiliary], ...] = (
    PointPrompts,
    AttributeProbe,
    AppearanceMasks,
    AppearanceAlignment,
    PatchProbe,
    ObjectFactsProbe,
    TrackFactsProbe,
    TrackSeparation,
)
NAMES: tuple[str, ...] = tuple(a.name for a in AUXILIARIES)

__all__ = [
    "AUXILIARIES",
    "JOINT",
    "NAMES",
    "SAM",
    "STAGES",
    "Auxiliary",
    "AuxiliaryInputs",
    "Stage",
    "build_auxiliaries",
    "check_weights",
]


def check_weights(weights: Mapping[str, float]) -> None:
    """Refuse unknown names, negative weights, and a loss whose prerequisite is off."""
    unknown = sorted(set(weights) - set(NAMES))
    if unknown:
        raise ConfigError(
            f"Unknown auxiliary loss(es): {', '.join(unknown)}.", f"Allowed: {', '.join(NAMES)}."
        )
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise ConfigError(f"auxiliary_weights.{name} must be a number >= 0, got {weight!r}.")
    for auxiliary in AUXILIARIES:
        missing = [r for r in auxiliary.requires if not weights.get(r, 0)]
        if weights.get(auxiliary.name, 0) and missing:
            raise ConfigError(
                f"The auxiliary loss {auxiliary.name} needs {', '.join(missing)} on as well.",
                f"Give {', '.join(missing)} a positive weight in auxiliary_weights.",
            )


def build_auxiliaries(
    weights: Mapping[str, float], model: VideoLISAModel, stages: tuple[Stage, ...]
) -> nn.ModuleDict:
    """The auxiliaries that contribute in one of ``stages`` (the stages the run goes
    through), in registry order."""
    built = nn.ModuleDict()
    for auxiliary in AUXILIARIES:
        weight = float(weights.get(auxiliary.name, 0.0))
        if any(auxiliary.stage_weight(weight, stage) > 0 for stage in stages):
            built[auxiliary.name] = auxiliary(weight, model)
    return built
