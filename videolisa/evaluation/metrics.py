"""The DAVIS video-segmentation measures: region similarity J and boundary F-measure F.

These reproduce the DAVIS 2017 evaluation (``db_eval_iou`` and ``db_eval_boundary``), which the
ReasonVOS and MeViS evaluation scripts use unchanged, to floating-point precision:

- J is the intersection over union of the two masks; two empty masks score 1.
- F compares one-pixel-wide boundary maps. A boundary pixel of one mask is matched when the other
  mask has a boundary pixel within a disk of radius ``ceil(bound_th × image diagonal)`` pixels
  (``x² + y² <= r²``, as ``skimage.morphology.disk``); precision and recall are the matched
  fractions and F = 2PR / (P + R). A mask without boundary pixels has precision 1 (prediction) or
  recall 1 (ground truth), so a prediction with no boundary scores F = 0 against one with a
  boundary, and F = 1 when neither has one (two empty masks, or an empty and a full-frame mask).

Instead of dilating whole boundary maps, the matching looks up each boundary pixel's disk rows in
row-wise running sums of the other boundary map, which counts exactly the same pixels.
"""

from __future__ import annotations

import math

import numpy as np


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J for one frame: |pred ∩ gt| / |pred ∪ gt|, and 1 when both masks are empty.

    Args:
        pred: (H, W) predicted mask; nonzero is foreground.
        gt: (H, W) ground-truth mask; nonzero is foreground.
    """
    return float(_region_similarities(pred[None], gt[None])[0])


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """F for one frame: the DAVIS boundary F-measure.

    Args:
        pred: (H, W) predicted mask; nonzero is foreground.
        gt: (H, W) ground-truth mask; nonzero is foreground.
        bound_th: match tolerance; below 1 a fraction of the image diagonal (rounded up to whole
            pixels), otherwise a whole number of pixels.
    """
    _check_same_shape(pred, gt)
    radius = _tolerance_pixels(pred.shape, bound_th)
    pred_boundary = seg2bmap(pred.astype(bool, copy=False))
    gt_boundary = seg2bmap(gt.astype(bool, copy=False))
    n_pred = int(np.count_nonzero(pred_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_pred == 0 or n_gt == 0:
        # DAVIS: no predicted boundary gives P=1, R=0; no ground-truth boundary P=0, R=1.
        return 1.0 if n_pred == n_gt else 0.0
    precision = _count_matched(pred_boundary, gt_boundary, radius) / n_pred
    recall = _count_matched(gt_boundary, pred_boundary, radius) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def sequence_scores(
    preds: np.ndarray, gts: np.ndarray, bound_th: float = 0.008
) -> tuple[float, float]:
    """Mean J and mean F over the frames of one expression.

    Args:
        preds: (T, H, W) predicted masks, T >= 1; nonzero is foreground.
        gts: (T, H, W) ground-truth masks; nonzero is foreground.
        bound_th: see :func:`boundary_f_measure`.

    Returns:
        (J, F), each the mean of the T per-frame values.
    """
    _check_same_shape(preds, gts)
    if preds.ndim != 3 or preds.shape[0] == 0:
        raise ValueError(f"expected (T, H, W) masks with T >= 1, got shape {preds.shape}")
    j = _region_similarities(preds, gts)
    f = np.array([boundary_f_measure(p, g, bound_th) for p, g in zip(preds, gts, strict=True)])
    return float(np.mean(j)), float(np.mean(f))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask, as the DAVIS/Berkeley ``seg2bmap``.

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour,
    counting only neighbours inside the image: the last row compares with the east neighbour
    only, the last column with the south neighbour only, and the bottom-right pixel is never a
    boundary. Boundaries thus sit half a pixel towards the origin from the mask edge, and a mask
    edge along the image border is no boundary. (DAVIS always asks for a map of the mask's own
    size, so its resampling to another width and height never applies and is not reproduced.)

    Args:
        seg: (..., H, W) bool mask.

    Returns:
        (..., H, W) bool boundary map.
    """
    # Repeating the last row and column makes every outside neighbour equal to an inside
    # pixel already compared (or to the pixel itself), which is exactly the rule above.
    pad = [(0, 0)] * (seg.ndim - 2) + [(0, 1), (0, 1)]
    padded = np.pad(seg, pad, mode="edge")
    east = padded[..., :-1, 1:]
    south = padded[..., 1:, :-1]
    south_east = padded[..., 1:, 1:]
    return (seg != east) | (seg != south) | (seg != south_east)


def _region_similarities(preds: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Per-frame J of (T, H, W) masks as a (T,) float64 array."""
    _check_same_shape(preds, gts)
    preds = preds.astype(bool, copy=False)
    gts = gts.astype(bool, copy=False)
    inter = np.count_nonzero(preds & gts, axis=(-2, -1))
    union = np.count_nonzero(preds | gts, axis=(-2, -1))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def _tolerance_pixels(shape: tuple[int, ...], bound_th: float) -> int:
    """Match radius in pixels for an (H, W) image, computed as DAVIS does."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in whole pixels, got {bound_th}")
        return int(bound_th)
    return int(np.ceil(bound_th * np.linalg.norm(shape)))


def _count_matched(source: np.ndarray, target: np.ndarray, radius: int) -> int:
    """How many True pixels of ``source`` have a True ``target`` pixel within the disk.

    Equals ``sum(source & dilate(target, disk(radius)))`` with pixels outside the image ignored.
    Sparse boundaries are looked up point by point; dense ones (noisy masks) are dilated over
    their bounding box, whichever touches fewer pixels.

    Args:
        source: (H, W) bool boundary map whose pixels are counted.
        target: (H, W) bool boundary map they are matched against.
        radius: disk radius in pixels.
    """
    ys, xs = np.nonzero(source)
    top, left = int(ys.min()), int(xs.min())
    box_area = (int(ys.max()) + 1 - top) * (int(xs.max()) + 1 - left)
    if ys.size * _POINT_LOOKUP_COST < box_area:
        return _count_matched_points(ys, xs, target, radius)
    window = _padded_window(target, top, left, ys, xs, radius)
    box = source[top : int(ys.max()) + 1, left : int(xs.max()) + 1]
    return int(np.count_nonzero(box & _dilate_window(window, box.shape, radius)))


# Looking up one boundary point costs about as much as dilating this many pixels of a box (timed
# on 1080p masks from small objects to dense noise: both paths count the same pixels).
_POINT_LOOKUP_COST = 30


def _count_matched_points(ys: np.ndarray, xs: np.ndarray, target: np.ndarray, radius: int) -> int:
    """How many points (ys[i], xs[i]) have a True ``target`` pixel within the disk."""
    height, width = target.shape
    running = _row_running_sums(target)
    matched = np.zeros(ys.shape, dtype=bool)
    for dy in range(-radius, radius + 1):
        half_width = math.isqrt(radius * radius - dy * dy)
        rows = ys + dy
        inside = (rows >= 0) & (rows < height)
        rows = rows[inside]
        lo = np.clip(xs[inside] - half_width, 0, width)
        hi = np.clip(xs[inside] + half_width + 1, 0, width)
        matched[inside] |= running[rows, hi] > running[rows, lo]
    return int(np.count_nonzero(matched))


def _padded_window(
    target: np.ndarray, top: int, left: int, ys: np.ndarray, xs: np.ndarray, radius: int
) -> np.ndarray:
    """The part of ``target`` within ``radius`` of the box around the points, zero outside."""
    bottom, right = int(ys.max()) + 1, int(xs.max()) + 1
    height, width = target.shape
    window = np.zeros((bottom - top + 2 * radius, right - left + 2 * radius), dtype=bool)
    y0, y1 = max(top - radius, 0), min(bottom + radius, height)
    x0, x1 = max(left - radius, 0), min(right + radius, width)
    wy, wx = y0 - (top - radius), x0 - (left - radius)
    window[wy : wy + y1 - y0, wx : wx + x1 - x0] = target[y0:y1, x0:x1]
    return window


def _dilate_window(window: np.ndarray, shape: tuple[int, int], radius: int) -> np.ndarray:
    """Dilation by the disk of a (h + 2r, w + 2r) window, cropped to its (h, w) centre."""
    height, width = shape
    running = _row_running_sums(window)
    dilated = np.zeros(shape, dtype=bool)
    for dy in range(-radius, radius + 1):
        half_width = math.isqrt(radius * radius - dy * dy)
        rows = running[radius + dy : radius + dy + height]
        hi = rows[:, radius + half_width + 1 : radius + half_width + 1 + width]
        lo = rows[:, radius - half_width : radius - half_width + width]
        dilated |= hi > lo
    return dilated


def _row_running_sums(mask: np.ndarray) -> np.ndarray:
    """(H, W + 1) counts: ``out[y, x]`` is the number of True pixels in row y left of column x.

    A row segment [lo, hi) holds a True pixel exactly when ``out[y, hi] > out[y, lo]``.
    """
    running = np.zeros((mask.shape[0], mask.shape[1] + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, out=running[:, 1:])
    return running


def _check_same_shape(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
