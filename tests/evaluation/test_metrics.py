"""J and F on hand-made masks with known answers, and their general properties.

Where not said otherwise, the expected values were worked out by hand from the DAVIS definitions:
boundary pixels sit on the mask edge shifted half a pixel towards the origin (a lone pixel at
(y, x) has the 2x2 boundary (y-1..y, x-1..x)), an image edge is no boundary, and the tolerance is
``ceil(0.008 × diagonal)`` pixels (1 for images up to 75x100, where the product is exactly 1.0).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from videolisa.evaluation import metrics
from videolisa.evaluation.metrics import (
    boundary_f_measure,
    region_similarity,
    seg2bmap,
    sequence_scores,
)


@pytest.fixture(autouse=True, params=["points", "box"])
def matching_path(request, monkeypatch):
    """Run every test through both ways of matching boundaries (they must agree exactly)."""
    monkeypatch.setattr(metrics, "_POINT_LOOKUP_COST", 0 if request.param == "points" else 10**9)


def pixels(shape: tuple[int, int], *points: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for y, x in points:
        mask[y, x] = True
    return mask


def columns(shape: tuple[int, int], start: int, stop: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[:, start:stop] = True
    return mask


SMALL = (5, 7)  # H, W: diagonal 8.6 -> tolerance 1 pixel (a plus-shaped disk)


def test_boundary_map_of_a_pixel_and_of_border_touching_masks():
    assert np.array_equal(
        np.argwhere(seg2bmap(pixels(SMALL, (2, 2)))), [[1, 1], [1, 2], [2, 1], [2, 2]]
    )
    # A mask along the left/top/bottom border is bounded only by its right edge (column 2) ...
    assert np.array_equal(seg2bmap(columns(SMALL, 0, 3)), columns(SMALL, 2, 3))
    # ... and one along the right border by its left edge, shifted to column 3.
    assert np.array_equal(seg2bmap(columns(SMALL, 4, 7)), columns(SMALL, 3, 4))
    assert not seg2bmap(np.ones(SMALL, dtype=bool)).any()
    # The bottom-right pixel is never a boundary pixel; its neighbours towards the origin are.
    assert np.array_equal(seg2bmap(pixels(SMALL, (4, 6))), pixels(SMALL, (3, 5), (3, 6), (4, 5)))


@pytest.mark.parametrize(
    ("pred", "gt", "j", "f"),
    [
        pytest.param(pixels(SMALL, (2, 2)), pixels(SMALL, (2, 2)), 1.0, 1.0, id="identical-pixel"),
        pytest.param(columns(SMALL, 0, 3), columns(SMALL, 0, 3), 1.0, 1.0, id="identical-block"),
        pytest.param(np.zeros(SMALL, bool), np.zeros(SMALL, bool), 1.0, 1.0, id="both-empty"),
        pytest.param(np.zeros(SMALL, bool), pixels(SMALL, (2, 2)), 0.0, 0.0, id="pred-empty"),
        pytest.param(pixels(SMALL, (2, 2)), np.zeros(SMALL, bool), 0.0, 0.0, id="gt-empty"),
        # Neither a full-frame mask nor an empty one has a boundary: F counts that as a match.
        pytest.param(np.zeros(SMALL, bool), np.ones(SMALL, bool), 0.0, 1.0, id="empty-vs-full"),
        pytest.param(pixels(SMALL, (0, 0)), pixels(SMALL, (4, 6)), 0.0, 0.0, id="far-corners"),
        # Boundaries one column apart match within 1 pixel although the masks are disjoint.
        pytest.param(pixels(SMALL, (2, 2)), pixels(SMALL, (2, 3)), 0.0, 1.0, id="pixel-shift-1"),
        # Two of four boundary pixels within 1 pixel, both ways: P = R = 1/2.
        pytest.param(pixels(SMALL, (2, 4)), pixels(SMALL, (2, 2)), 0.0, 0.5, id="pixel-shift-2"),
        # Diagonal neighbours are outside the radius-1 disk: P = R = 3/4.
        pytest.param(pixels(SMALL, (3, 3)), pixels(SMALL, (2, 2)), 0.0, 0.75, id="pixel-diag"),
        pytest.param(columns(SMALL, 0, 3), columns(SMALL, 4, 7), 0.0, 1.0, id="left-vs-right"),
        pytest.param(columns(SMALL, 0, 4), columns(SMALL, 0, 3), 0.75, 1.0, id="left-15-of-20"),
        pytest.param(columns(SMALL, 0, 2), columns(SMALL, 0, 5), 0.4, 0.0, id="left-10-of-25"),
    ],
)
def test_hand_computed_small_masks(pred, gt, j, f):
    assert region_similarity(pred, gt) == pytest.approx(j, abs=1e-12)
    assert boundary_f_measure(pred, gt) == pytest.approx(f, abs=1e-12)


def test_one_pixel_images():
    one, zero = np.ones((1, 1), bool), np.zeros((1, 1), bool)
    assert (region_similarity(one, one), boundary_f_measure(one, one)) == (1.0, 1.0)
    # A 1x1 image has no boundary pixel at all, so F is 1 even against an empty mask.
    assert (region_similarity(one, zero), boundary_f_measure(one, zero)) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("shape", "f"),
    [
        ((75, 100), 0.5),  # 0.008 x 125 is exactly 1.0: radius 1, half the boundary matches
        ((76, 100), 1.0),  # 0.008 x 125.6 rounds up to radius 2: everything matches
    ],
)
def test_tolerance_is_the_rounded_up_diagonal_fraction(shape, f):
    assert boundary_f_measure(pixels(shape, (2, 4)), pixels(shape, (2, 2))) == f


@pytest.mark.parametrize(
    ("pred_point", "f"),
    [
        ((2, 5), 0.5),  # offset 2 along a row is inside a radius-2 disk, 3 is not
        ((3, 4), 0.75),  # offset (1, 2) is outside it (1 + 4 > 4), (1, 1) and (0, 2) inside
    ],
)
def test_radius_two_disk_in_whole_pixels(pred_point, f):
    pred, gt = pixels((7, 7), pred_point), pixels((7, 7), (2, 2))
    assert boundary_f_measure(pred, gt, bound_th=2) == f


# 241x321 (odd sizes, tolerance 4 pixels). Expected values recorded from the reference DAVIS 2017
# implementation (davis2017/metrics.py with cv2.dilate and skimage.morphology.disk).
H, W = 241, 321
_yy, _xx = np.mgrid[:H, :W]


def _ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((_yy - cy) / ry) ** 2 + ((_xx - cx) / rx) ** 2 <= 1


def _rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


ODD = {
    "ellipse": _ellipse(120, 160, 80, 110),
    "ellipse_shifted": _ellipse(123, 155, 80, 110),
    "rectangle": _rect(40, 200, 50, 270),
    "corner_ellipse": _ellipse(0, 320, 100, 150),  # touches the top and right borders
    "bottom_left_rect": _rect(150, 241, 0, 100),  # touches the bottom and left borders
    "blocks": ((_xx // 7) % 2 == 0) & ((_yy // 11) % 2 == 0),  # dense boundaries
}
ODD_EXPECTED = [
    ("ellipse_shifted", "ellipse", 0.9276292832716868, 0.6178010471204188),
    ("rectangle", "ellipse", 0.784586103062326, 0.33699633699633696),
    ("corner_ellipse", "bottom_left_rect", 0.0, 0.0),
    ("rectangle", "bottom_left_rect", 0.05980861244019139, 0.03785488958990536),
    ("blocks", "ellipse", 0.171458416235575, 0.13235230167378162),
    ("corner_ellipse", "ellipse", 0.03179658539132251, 0.05998500374906273),
]


@pytest.mark.parametrize(("pred", "gt", "j", "f"), ODD_EXPECTED)
def test_odd_size_matches_reference(pred, gt, j, f):
    assert region_similarity(ODD[pred], ODD[gt]) == pytest.approx(j, abs=1e-12)
    assert boundary_f_measure(ODD[pred], ODD[gt]) == pytest.approx(f, abs=1e-12)


def test_sequence_scores_are_frame_means():
    preds = np.stack([pixels(SMALL, (2, 2)), pixels(SMALL, (3, 3)), np.zeros(SMALL, bool)])
    gts = np.stack([pixels(SMALL, (2, 2)), pixels(SMALL, (2, 2)), np.zeros(SMALL, bool)])
    j, f = sequence_scores(preds, gts)
    assert j == pytest.approx((1 + 0 + 1) / 3, abs=1e-12)
    assert f == pytest.approx((1 + 0.75 + 1) / 3, abs=1e-12)


def test_sequence_scores_reject_bad_shapes():
    with pytest.raises(ValueError, match="differs"):
        sequence_scores(np.zeros((2, 5, 7), bool), np.zeros((2, 5, 6), bool))
    with pytest.raises(ValueError, match="T >= 1"):
        sequence_scores(np.zeros((0, 5, 7), bool), np.zeros((0, 5, 7), bool))


masks = st.tuples(st.integers(1, 24), st.integers(1, 24)).flatmap(
    lambda shape: st.tuples(
        hnp.arrays(bool, shape, elements=st.booleans()),
        hnp.arrays(bool, shape, elements=st.booleans()),
    )
)


@settings(max_examples=60, deadline=None)
@given(masks)
def test_properties(pair):
    a, b = pair
    j, f = region_similarity(a, b), boundary_f_measure(a, b)
    assert 0.0 <= j <= 1.0
    assert 0.0 <= f <= 1.0
    assert j == region_similarity(b, a)
    assert f == pytest.approx(boundary_f_measure(b, a), abs=1e-15)
    assert boundary_f_measure(a, a) == 1.0
    if a.any():
        assert region_similarity(a, a) == 1.0
