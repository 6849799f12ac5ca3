"""The published frame-index rule, its broken combinations, and properties for any video."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videolisa.errors import ConfigError
from videolisa.sampling import FrameSampling, valid_dense_counts


def test_every_recorded_case(golden_dir):
    cases = json.loads((golden_dir / "golden.json").read_text())["frame_index_cases"]
    assert len(cases) == 18
    for case in cases:
        args = case["total_frames"], case["T_sparse"], case["T_dense"]
        if -1 in case["dense_indices"]:
            with pytest.raises(ConfigError, match="--frames-dense"):
                FrameSampling.for_video(*args)
        else:
            sampling = FrameSampling.for_video(*args)
            assert list(sampling.sparse) == case["sparse_indices"]
            assert list(sampling.dense) == case["dense_indices"]


def test_paper_default():
    assert FrameSampling.for_video(32, 32, 4).dense == (3, 10, 18, 26)


def test_broken_combination_names_the_values_that_work():
    with pytest.raises(ConfigError, match=r"use --frames-dense 1-7"):
        FrameSampling.for_video(10, 8, 8)


def test_one_sparse_frame_is_refused_with_a_fix():
    with pytest.raises(ConfigError, match="--frames-sparse 2 or more"):
        FrameSampling.for_video(10, 1, 1)


@pytest.mark.parametrize("args", [(0, 4, 2), (5, 0, 1), (5, 4, 0), (5, 4, 5)])
def test_bad_counts_are_refused(args):
    with pytest.raises(ConfigError):
        FrameSampling.for_video(*args)


@given(
    total=st.integers(1, 3000),
    sparse=st.integers(2, 64),
    data=st.data(),
)
def test_indices_in_range_sorted_and_counted(total, sparse, data):
    dense = data.draw(st.sampled_from(valid_dense_counts(sparse)))
    sampling = FrameSampling.for_video(total, sparse, dense)
    assert len(sampling.sparse) == sparse and len(sampling.dense) == dense
    assert list(sampling.sparse) == sorted(sampling.sparse)
    assert all(0 <= i < total for i in sampling.sparse)
    assert list(sampling.dense) == sorted(set(sampling.dense))
    assert all(0 <= p < sparse for p in sampling.dense)
