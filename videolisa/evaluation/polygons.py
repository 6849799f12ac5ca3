"""Polygons filled pixel for pixel as OpenCV's ``cv2.fillPoly`` (4.x up to 4.10) fills them.

LISA draws ReasonSeg's ground truth with ``cv2.polylines`` and ``cv2.fillPoly`` on integer
vertices; this reproduces that without OpenCV. (OpenCV 4.11 changed how spans are rounded, so the
published masks are those of the OpenCV of the time: 4.8 in LISA's requirements.)

- The outline: each edge is an 8-connected line, the one OpenCV's line iterator walks from its
  left end (after clipping the edge to the image as ``cv2.clipLine`` does): the major axis steps
  every pixel, the minor axis ``(2 * minor * k + major - 1) // (2 * major)`` after k steps.
- The inside: each non-horizontal edge covers the rows from its upper vertex to the row before
  its lower one, at x = upper x + row offset × slope, the slope in 16.16 fixed point truncated
  towards zero. On every row the crossings are sorted and paired (even-odd), and each pair fills
  the pixels from its left to its right crossing, both rounded half up.

The outline matches OpenCV for any vertices; the inside for vertices within the image (an
annotation tool's), and it may differ near the border when a vertex lies outside.
"""

from __future__ import annotations

import numpy as np

_SHIFT = 16  # OpenCV's fixed-point fraction bits


def fill_polygon(labels: np.ndarray, points: np.ndarray, value: int) -> None:
    """Set to ``value`` the pixels of (H, W) ``labels`` that OpenCV fills for the polygon with
    (N, 2) integer (x, y) ``points``."""
    height, width = labels.shape
    points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    previous = np.roll(points, 1, axis=0)
    for start, end in zip(previous.tolist(), points.tolist(), strict=True):
        xs, ys = _line_pixels(start, end, width, height)
        labels[ys, xs] = value
    rows, left, right = _spans(previous, points)
    inside = (rows >= 0) & (rows < height) & (left < width) & (right >= 0)
    rows = rows[inside]
    runs = np.zeros((height, width + 1), dtype=np.int32)  # +1 where a run starts, -1 after it
    np.add.at(runs, (rows, np.maximum(left[inside], 0)), 1)
    np.add.at(runs, (rows, np.minimum(right[inside], width - 1) + 1), -1)
    labels[np.cumsum(runs, axis=1)[:, :width] > 0] = value


def _spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """(rows, left, right) of the filled runs of the edges ``starts[i]`` -> ``ends[i]``."""
    sloped = starts[:, 1] != ends[:, 1]
    if np.count_nonzero(sloped) < 2:
        none = np.zeros(0, dtype=np.int64)
        return none, none, none
    starts, ends = starts[sloped], ends[sloped]
    downward = starts[:, 1] < ends[:, 1]
    top = np.where(downward[:, None], starts, ends)
    bottom = np.where(downward[:, None], ends, starts)
    run = (bottom[:, 0] - top[:, 0]) << _SHIFT
    slope = np.sign(run) * (np.abs(run) // (bottom[:, 1] - top[:, 1]))  # C division
    heights = bottom[:, 1] - top[:, 1]
    edge = np.repeat(np.arange(len(top)), heights)
    offset = np.arange(edge.size) - np.repeat(np.cumsum(heights) - heights, heights)
    rows = top[edge, 1] + offset
    xs = (top[edge, 0] << _SHIFT) + offset * slope[edge]
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], (xs[order] + (1 << (_SHIFT - 1))) >> _SHIFT
    return rows[0::2], xs[0::2], xs[1::2]


def _line_pixels(
    start: list[int], end: list[int], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) of the 8-connected line OpenCV draws from ``start`` to ``end`` in the image."""
    clipped = _clip_line(start, end, width, height)
    if clipped is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    (x0, y0), (x1, y1) = clipped
    if x1 < x0:  # walked from its left end
        (x0, y0), (x1, y1) = (x1, y1), (x0, y0)
    dx, dy = x1 - x0, abs(y1 - y0)
    sign = -1 if y1 < y0 else 1
    major, minor = max(dx, dy), min(dx, dy)
    steps = np.arange(major + 1)
    moved = (2 * minor * steps + major - 1) // (2 * major) if major else steps
    if dy > dx:
        return x0 + moved, y0 + sign * steps
    return x0 + steps, y0 + sign * moved


def _clip_line(
    start: list[int], end: list[int], width: int, height: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The part of a line inside the image, as ``cv2.clipLine`` computes it; None if none."""
    (x1, y1), (x2, y2) = start, end
    right, bottom = width - 1, height - 1

    def outcode(x: int, y: int) -> int:
        return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8

    c1, c2 = outcode(x1, y1), outcode(x2, y2)
    if c1 & c2 == 0 and c1 | c2:
        if c1 & 12:
            y = 0 if c1 < 8 else bottom
            x1, y1 = x1 + _c_div((y - y1) * (x2 - x1), y2 - y1), y
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            y = 0 if c2 < 8 else bottom
            x2, y2 = x2 + _c_div((y - y2) * (x2 - x1), y2 - y1), y
            c2 = (x2 < 0) + (x2 > right) * 2
        if c1 & c2 == 0 and c1 | c2:
            if c1:
                x = 0 if c1 == 1 else right
                x1, y1, c1 = x, y1 + _c_div((x - x1) * (y2 - y1), x2 - x1), 0
            if c2:
                x = 0 if c2 == 1 else right
                x2, y2, c2 = x, y2 + _c_div((x - x2) * (y2 - y1), x2 - x1), 0
    if c1 | c2:
        return None
    return (x1, y1), (x2, y2)


def _c_div(a: int, b: int) -> int:
    """Integer division truncated towards zero, as in C."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient
