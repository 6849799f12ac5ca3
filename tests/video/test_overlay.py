"""render_overlay and the track colours."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from videolisa.errors import ConfigError
from videolisa.video import TRACK_COLORS, render_overlay, track_color


def square_mask(t: int = 1, h: int = 20, w: int = 20, top: int = 5, size: int = 10) -> np.ndarray:
    """(1,T,H,W) bool: one track, a ``size``-pixel square at (top, top) on every frame."""
    masks = np.zeros((1, t, h, w), dtype=bool)
    masks[0, :, top : top + size, top : top + size] = True
    return masks


def grey_frames(t: int = 1, h: int = 20, w: int = 20, level: int = 100) -> np.ndarray:
    return np.full((t, h, w, 3), level, dtype=np.uint8)


def test_track_colours_are_many_distinct_and_saturated():
    assert len(TRACK_COLORS) >= 10
    for first, second in itertools.combinations(TRACK_COLORS, 2):
        assert np.linalg.norm(np.subtract(first, second)) >= 100, (first, second)
    for color in TRACK_COLORS:
        assert (max(color) - min(color)) / max(color) >= 0.8
        assert all(0 <= channel <= 255 for channel in color)


def test_track_colour_wraps_around():
    assert track_color(0) == TRACK_COLORS[0]
    assert track_color(len(TRACK_COLORS) + 3) == TRACK_COLORS[3]


def test_fill_is_blended_and_the_contour_is_the_colour_then_a_contrasting_line():
    frames = grey_frames()  # grey 100: dark, so the inner line is white
    color = np.array(track_color(0))

    out = render_overlay(frames, square_mask(), opacity=0.25)

    expected_fill = np.rint(0.75 * 100 + 0.25 * color)
    np.testing.assert_array_equal(out[0, 5, 5:15], np.broadcast_to(color, (10, 3)))
    np.testing.assert_array_equal(out[0, 6, 6:14], 255)  # the contrasting inner line
    np.testing.assert_array_equal(out[0, 7:13, 7:13], np.broadcast_to(expected_fill, (6, 6, 3)))
    np.testing.assert_array_equal(out[0, 4, :], frames[0, 4, :])
    np.testing.assert_array_equal(out[0, :, 15], frames[0, :, 15])


def test_frame_border_is_not_outlined():
    masks = np.zeros((1, 1, 10, 10), dtype=bool)
    masks[0, 0, :, :5] = True  # left half: touches the top, bottom and left borders

    out = render_overlay(grey_frames(1, 10, 10), masks, opacity=0.0)

    np.testing.assert_array_equal(out[0, :, :3], 100)
    np.testing.assert_array_equal(out[0, :, 3], 255)
    np.testing.assert_array_equal(out[0, :, 4], np.broadcast_to(track_color(0), (10, 3)))


def test_a_track_shows_on_an_object_of_its_own_colour():
    """A red mask on a red object: the fill and the outer line vanish into the object, the
    inner line does not; on a light object the line is dark."""
    for shade, line in ((track_color(0), 255), ((250, 250, 250), 0)):
        frames = np.zeros((1, 20, 20, 3), dtype=np.uint8)
        frames[:, 5:15, 5:15] = shade
        out = render_overlay(frames, square_mask(), opacity=0.5)
        np.testing.assert_array_equal(out[0, 6, 6:14], line)
        assert np.abs(out.astype(int) - frames).max() >= 200  # visibly changed


@pytest.mark.parametrize(("opacity", "inside"), [(0.0, 100), (1.0, None)])
def test_opacity_extremes(opacity, inside):
    out = render_overlay(grey_frames(), square_mask(), opacity=opacity)

    expected = np.full(3, inside) if inside is not None else np.array(track_color(0))
    np.testing.assert_array_equal(out[0, 10, 10], expected)
    np.testing.assert_array_equal(out[0, 5, 10], track_color(0))


def test_later_tracks_are_drawn_over_earlier_ones():
    masks = np.concatenate([square_mask(top=2, size=14), square_mask(top=6, size=14)])

    out = render_overlay(grey_frames(), masks, opacity=0.5)

    first, second = np.array(track_color(0)), np.array(track_color(1))
    under = np.rint(0.5 * 100 + 0.5 * first)
    np.testing.assert_array_equal(out[0, 10, 10], np.rint(0.5 * under + 0.5 * second))
    np.testing.assert_array_equal(out[0, 6, 10], second)  # second's contour over first's fill
    np.testing.assert_array_equal(out[0, 4, 4], under)


def test_every_frame_is_drawn_and_input_is_untouched():
    frames = grey_frames(t=4)
    masks = square_mask(t=4)
    masks[0, 2] = False
    before = frames.copy()

    out = render_overlay(frames, masks)

    np.testing.assert_array_equal(frames, before)
    assert all((out[index] != frames[index]).any() for index in (0, 1, 3))
    np.testing.assert_array_equal(out[2], frames[2])


def test_no_tracks_returns_a_copy():
    frames = grey_frames(t=2)

    out = render_overlay(frames, np.zeros((0, 2, 20, 20), dtype=bool))

    np.testing.assert_array_equal(out, frames)
    assert out is not frames


@pytest.mark.parametrize("opacity", [-0.1, 1.01, float("nan")])
def test_opacity_outside_unit_interval(opacity):
    with pytest.raises(ConfigError, match="opacity must be between 0 and 1"):
        render_overlay(grey_frames(), square_mask(), opacity=opacity)


@pytest.mark.parametrize(
    ("frames", "masks"),
    [
        (grey_frames(t=2), square_mask(t=1)),
        (grey_frames(), square_mask().astype(np.uint8)),
        (grey_frames().astype(np.float32), square_mask()),
        (grey_frames()[..., :1], square_mask()),
    ],
)
def test_shape_and_dtype_mismatches(frames, masks):
    with pytest.raises(ValueError, match="must be"):
        render_overlay(frames, masks)


@st.composite
def frames_and_masks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    t, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    k = draw(st.integers(0, 3))
    frames = draw(hnp.arrays(np.uint8, (t, h, w, 3)))
    masks = draw(hnp.arrays(np.bool_, (k, t, h, w)))
    opacity = draw(st.floats(0.0, 1.0))
    return frames, masks, opacity


@settings(max_examples=60, deadline=None)
@given(frames_and_masks())
def test_pixels_outside_every_mask_are_unchanged(case):
    frames, masks, opacity = case

    out = render_overlay(frames, masks, opacity)

    assert out.shape == frames.shape
    assert out.dtype == np.uint8
    outside = ~masks.any(axis=0)
    np.testing.assert_array_equal(out[outside], frames[outside])
