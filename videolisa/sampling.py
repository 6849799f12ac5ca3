"""Sparse-Dense frame sampling, with the published code's index rule.

The published checkpoint was trained with these exact indices, so they are kept as they are,
including their quirks: short videos repeat frames, and the dense rule can collide (fact 5 of
the golden README), which is rejected here with a message instead of crashing later.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from videolisa.errors import ConfigError


def uniform_indices(total: int, count: int) -> list[int]:
    """``count`` indices into ``range(total)``, one per equal bin: the bin's midpoint.

    Bin edges are ``linspace(0, total, count + 1)`` cast to int; the index of the bin
    ``[start, end)`` is ``(start + end - 1) // 2``.
    """
    return _bin_midpoints(np.linspace(0, total, count + 1).astype(int))


def _bin_midpoints(edges: np.ndarray) -> list[int]:
    """``(start + end - 1) // 2`` for each bin ``[start, end)`` between consecutive edges."""
    return [int((start + end - 1) // 2) for start, end in itertools.pairwise(edges)]


def sparse_indices(total_frames: int, num_sparse: int) -> list[int]:
    """Indices of the ``num_sparse`` frames given to CLIP, sorted.

    Longer videos are sampled uniformly; a video with no more frames than ``num_sparse`` repeats
    every frame ``num_sparse // total_frames`` times and adds ``uniform_indices`` for the rest.
    """
    if total_frames > num_sparse:
        return uniform_indices(total_frames, num_sparse)
    repeated = list(range(total_frames)) * (num_sparse // total_frames)
    return sorted(repeated + uniform_indices(total_frames, num_sparse % total_frames))


def _published_dense_positions(num_sparse: int, num_dense: int) -> list[int]:
    return _bin_midpoints(np.linspace(0, num_sparse - 1, num_dense + 1).astype(int))


def _is_valid(positions: list[int]) -> bool:
    return positions[0] >= 0 and len(set(positions)) == len(positions)


def valid_dense_counts(num_sparse: int) -> list[int]:
    """The dense counts for which the published rule gives distinct, valid positions."""
    return [
        n for n in range(1, num_sparse + 1) if _is_valid(_published_dense_positions(num_sparse, n))
    ]


def dense_positions(num_sparse: int, num_dense: int) -> list[int]:
    """Positions *into the sparse list* of the frames that keep all their tokens.

    The midpoints of the bins of ``linspace(0, num_sparse - 1, num_dense + 1)`` cast to int
    (32 sparse, 4 dense gives ``[3, 10, 18, 26]``). Raises :class:`ConfigError` for the
    combinations where the published rule yields -1 or repeats a position.
    """
    positions = _published_dense_positions(num_sparse, num_dense)
    if not _is_valid(positions):
        valid = valid_dense_counts(num_sparse)
        fix = (
            f"With --frames-sparse {num_sparse} use --frames-dense {_compact(valid)}, "
            "or raise --frames-sparse."
            if valid
            else "Use --frames-sparse 2 or more."
        )
        raise ConfigError(
            f"{num_dense} dense frames out of {num_sparse} sparse frames is not possible with the "
            f"published sampling rule (it gives positions {positions}).",
            fix,
        )
    return positions


def _compact(values: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3 or 5"``."""
    runs: list[str] = []
    start = prev = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(runs[:-1]) + (" or " if len(runs) > 1 else "") + runs[-1]


@dataclass(frozen=True)
class FrameSampling:
    """Which frames the LLM sees: ``sparse`` frame indices and ``dense`` positions among them."""

    sparse: tuple[int, ...]
    dense: tuple[int, ...]

    @classmethod
    def for_video(cls, total_frames: int, num_sparse: int, num_dense: int) -> FrameSampling:
        """Validate the counts and apply the published rule to a video of ``total_frames``."""
        if total_frames < 1:
            raise ConfigError("The video has no frames.", "Use a video with at least one frame.")
        if num_sparse < 1:
            raise ConfigError(f"--frames-sparse must be at least 1, got {num_sparse}.")
        if not 1 <= num_dense <= num_sparse:
            raise ConfigError(
                f"--frames-dense must be between 1 and --frames-sparse ({num_sparse}), "
                f"got {num_dense}."
            )
        return cls(
            sparse=tuple(sparse_indices(total_frames, num_sparse)),
            dense=tuple(dense_positions(num_sparse, num_dense)),
        )

    @property
    def dense_frames(self) -> tuple[int, ...]:
        """Frame indices (into the video) of the dense frames."""
        return tuple(self.sparse[p] for p in self.dense)
