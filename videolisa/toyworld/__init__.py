"""The procedural toy world: short videos of coloured shapes with questions about them.

It serves to train and evaluate a small VideoLISA model on a CPU. Everything is deterministic
given a seed. Training streams (:func:`iter_samples`) and the held-out test sets
(:func:`test_set`) draw from disjoint seed domains: sample ``i`` of a training stream with seed
``s`` uses ``SeedSequence(s, spawn_key=(0, i))``, test sample ``i`` of a kind uses
``SeedSequence(TEST_ENTROPY, spawn_key=(1, crc32(kind), i))``, so no training seed reproduces a
test video.

* :mod:`~videolisa.toyworld.world`: objects, motion, rendering;
* :mod:`~videolisa.toyworld.questions`: questions and answers per kind;
* :mod:`~videolisa.toyworld.disk`: the ReasonVOS / MeViS folder layout.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from videolisa.errors import ConfigError
from videolisa.toyworld.questions import (
    CONVERSATION,
    KINDS,
    SUBTYPES,
    TRK,
    Turn,
    is_well_formed,
    make_conversation,
    make_long_conversation,
)
from videolisa.toyworld.world import (
    COLOURS,
    SHAPES,
    ObjectSpec,
    WorldConfig,
    render_frames,
    sample_scene,
)

__all__ = [
    "COLOURS",
    "CONVERSATION",
    "KINDS",
    "SAMPLE_KINDS",
    "SHAPES",
    "SUBTYPES",
    "TEST_ENTROPY",
    "TRK",
    "ObjectSpec",
    "Sample",
    "Turn",
    "WorldConfig",
    "check_kinds",
    "generate_sample",
    "is_well_formed",
    "iter_samples",
    "test_sample",
    "test_set",
    "train_sample",
]

TEST_ENTROPY = 0x70E57_5E75  # entropy of the held-out test sets; spawn keys keep them apart
_TRAIN_DOMAIN, _TEST_DOMAIN = 0, 1
_MAX_QUESTION_ATTEMPTS = 200
# what a sample can be: one of KINDS, or a long conversation mixing them (not written to disk)
SAMPLE_KINDS: tuple[str, ...] = (*KINDS, CONVERSATION)


@dataclass(frozen=True, eq=False)
class Sample:
    """One video with a conversation about it (compared by identity: it holds arrays).

    ``frames`` (T, H, W, 3) uint8 RGB; ``masks`` (N, T, H, W) bool visible pixels of each object,
    indexed by object id; ``objects`` the N object specs (empty when read from a data set that has
    none); ``turns`` the conversation, whose ``track_objects`` index ``masks``.
    """

    frames: np.ndarray
    masks: np.ndarray
    objects: tuple[ObjectSpec, ...]
    turns: tuple[Turn, ...]
    kind: str
    video_id: str

    def __post_init__(self) -> None:
        if self.masks.shape[1:] != self.frames.shape[:3]:
            raise ValueError(f"masks {self.masks.shape} do not match frames {self.frames.shape}")
        if self.objects and len(self.objects) != len(self.masks):
            raise ValueError(f"{len(self.objects)} objects but {len(self.masks)} masks")
        if any(not 0 <= n < len(self.masks) for turn in self.turns for n in turn.track_objects):
            raise ValueError(f"a track object is not one of the {len(self.masks)} masks")


def check_kinds(kinds: Sequence[str], allowed: Sequence[str] = KINDS) -> tuple[str, ...]:
    """``kinds`` as a tuple, or :class:`ConfigError` if empty or one is not ``allowed``."""
    unknown = [k for k in kinds if k not in allowed]
    if unknown or not kinds:
        raise ConfigError(
            f"Unknown question kinds: {', '.join(map(repr, unknown)) or 'none given'}.",
            f"Use one or more of: {', '.join(allowed)}.",
        )
    return tuple(kinds)


def generate_sample(
    rng: np.random.Generator,
    kind: str,
    config: WorldConfig | None = None,
    *,
    video_id: str | None = None,
) -> Sample:
    """Draw a video and a conversation of ``kind`` (one of :data:`SAMPLE_KINDS`) about it.

    A subtype of ``kind`` (see ``SUBTYPES``) is drawn first, evenly, and scenes are redrawn until
    one allows a clear question of it; a :data:`CONVERSATION` has no subtype. ``video_id``
    defaults to one drawn from ``rng``.
    """
    check_kinds([kind], SAMPLE_KINDS)
    config = config or WorldConfig()
    drawn_id = f"toy_{int(rng.integers(2**63)):016x}"
    if kind != CONVERSATION:
        subtypes = SUBTYPES[kind]
        subtype = subtypes[int(rng.integers(len(subtypes)))]
    for attempt in range(_MAX_QUESTION_ATTEMPTS):
        scene = sample_scene(rng, config)
        if kind == CONVERSATION:
            turns = make_long_conversation(rng, scene)
        else:
            # Keep to the drawn subtype for half the attempts, then take any the config allows.
            wanted = subtype if attempt < _MAX_QUESTION_ATTEMPTS // 2 else None
            turns = make_conversation(rng, kind, scene, wanted)
        if turns is not None:
            frames = render_frames(rng, scene, config)
            return Sample(frames, scene.masks, scene.objects, turns, kind, video_id or drawn_id)
    raise ConfigError(
        f"No {kind!r} question fits any of {_MAX_QUESTION_ATTEMPTS} random videos.",
        "Allow at least 2 objects per video and keep the default frame counts and sizes.",
    )


def train_sample(seed: int, index: int, kind: str, config: WorldConfig | None = None) -> Sample:
    """Sample ``index`` of the training stream ``seed``: depends on nothing else, so a resumed
    run regenerates exactly the data it would have seen."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TRAIN_DOMAIN, index)))
    return generate_sample(rng, kind, config, video_id=f"train{seed}_{index:07d}")


def iter_samples(
    seed: int, kinds: Sequence[str], config: WorldConfig | None = None
) -> Iterator[Sample]:
    """An endless, deterministic training stream cycling through ``kinds`` in order.

    Sample ``i`` is ``train_sample(seed, i, kinds[i % len(kinds)], config)``.
    """
    kinds = check_kinds(kinds, SAMPLE_KINDS)
    if seed < 0:
        raise ConfigError(f"Seed {seed} is negative.", "Use a seed >= 0.")

    def stream() -> Iterator[Sample]:
        index = 0
        while True:
            yield train_sample(seed, index, kinds[index % len(kinds)], config)
            index += 1

    return stream()


def test_sample(kind: str, index: int, config: WorldConfig | None = None) -> Sample:
    """Held-out sample ``index`` of ``kind`` (a fixed seed, disjoint from training); depends on
    nothing else, so any one of a test set can be drawn alone."""
    check_kinds([kind], SAMPLE_KINDS)
    seed = np.random.SeedSequence(
        TEST_ENTROPY, spawn_key=(_TEST_DOMAIN, zlib.crc32(kind.encode()), index)
    )
    return generate_sample(
        np.random.default_rng(seed), kind, config, video_id=f"test_{kind}_{index:05d}"
    )


def test_set(kind: str, n: int, config: WorldConfig | None = None) -> list[Sample]:
    """The first ``n`` held-out samples of ``kind`` (fixed seeds, disjoint from training)."""
    check_kinds([kind], SAMPLE_KINDS)
    return [test_sample(kind, i, config) for i in range(n)]
