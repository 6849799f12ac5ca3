"""What the toy world knows exactly about each object of a video, as class labels.

The relations the questions ask about (:mod:`videolisa.toyworld.questions`): how an object moves
(a clear direction as the questions define it), how it ranks by speed and size, how many objects
share its colour or shape, how late it is first seen. Training-only probes use them as targets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from videolisa.toyworld.questions import SceneFacts
from videolisa.toyworld.world import ObjectSpec, Scene, build_scene

MOTIONS: tuple[str, ...] = ("static", "left", "right", "up", "down", "other")
MAX_RANK = 5  # ranks 0..4 (0: fastest, largest, first seen); larger ones are clipped to 4
MAX_COUNT = 8  # counts 1..8 as classes 0..7


@dataclass(frozen=True)
class ObjectFacts:
    """Per-object labels, each an (N,) int64 array of class ids."""

    motion: np.ndarray  # index into MOTIONS: static, a clear direction, or "other"
    speed_rank: np.ndarray  # 0 = fastest of the moving objects; MAX_RANK = static
    size_rank: np.ndarray  # by area among all objects, 0 = largest
    size_rank_in_colour: np.ndarray  # among the objects of its colour
    size_rank_in_shape: np.ndarray  # among the objects of its shape
    colour_count: np.ndarray  # objects of its colour, minus 1
    shape_count: np.ndarray  # objects of its shape, minus 1
    object_count: np.ndarray  # objects in the video, minus 1 (the same for all)
    first_seen_rank: np.ndarray  # dense rank of the first frame it is seen on, 0 = earliest

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FACT_CLASSES}


# number of classes of each field of ObjectFacts, in field order
FACT_CLASSES: dict[str, int] = {
    "motion": len(MOTIONS),
    "speed_rank": MAX_RANK + 1,
    "size_rank": MAX_RANK,
    "size_rank_in_colour": MAX_RANK,
    "size_rank_in_shape": MAX_RANK,
    "colour_count": MAX_COUNT,
    "shape_count": MAX_COUNT,
    "object_count": MAX_COUNT,
    "first_seen_rank": MAX_RANK,
}


def scene_of(objects: tuple[ObjectSpec, ...], masks: np.ndarray) -> Scene:
    """The scene of a sample's ``objects`` at the size of its (N, T, H, W) ``masks``."""
    _, frames, height, width = masks.shape
    return build_scene(objects, frames, height, width)


def object_facts(scene: Scene) -> ObjectFacts:
    """The labels of every object of ``scene``."""
    facts = SceneFacts(scene)
    objects = scene.objects
    count = len(objects)
    motion = []
    for n in range(count):
        direction = facts.direction(n)
        if facts.speed[n] == 0:
            motion.append(0)
        else:
            motion.append(MOTIONS.index(direction) if direction else MOTIONS.index("other"))
    moving = [n for n in range(count) if facts.speed[n] > 0]
    speed_rank = np.full(count, MAX_RANK)
    speed_rank[moving] = _ranks(-facts.speed[moving])
    colours = [o.colour for o in objects]
    shapes = [o.shape for o in objects]
    colour_counts, shape_counts = Counter(colours), Counter(shapes)
    return ObjectFacts(
        motion=np.array(motion, dtype=np.int64),
        speed_rank=speed_rank.astype(np.int64),
        size_rank=_ranks(-facts.area),
        size_rank_in_colour=_group_ranks(-facts.area, colours),
        size_rank_in_shape=_group_ranks(-facts.area, shapes),
        colour_count=_counts([colour_counts[c] for c in colours]),
        shape_count=_counts([shape_counts[s] for s in shapes]),
        object_count=_counts([count] * count),
        first_seen_rank=np.minimum(
            np.unique(facts.first_seen, return_inverse=True)[1].reshape(-1), MAX_RANK - 1
        ).astype(np.int64),
    )


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the smallest value, 1 for the next, ... (ties by order), clipped to MAX_RANK - 1."""
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return np.minimum(ranks, MAX_RANK - 1)


def _group_ranks(values: np.ndarray, groups: list[str]) -> np.ndarray:
    ranks = np.zeros(len(values), dtype=np.int64)
    for group in set(groups):
        members = [n for n, g in enumerate(groups) if g == group]
        ranks[members] = _ranks(values[members])
    return ranks


def _counts(counts: list[int]) -> np.ndarray:
    return np.minimum(np.array(counts, dtype=np.int64), MAX_COUNT) - 1
