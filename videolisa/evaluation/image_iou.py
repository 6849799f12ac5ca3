"""gIoU and cIoU of image segmentation, as LISA (and VideoLISA's ``evaluation/eval_img``) report
them for ReasonSeg and refCOCO.

Per sample, the foreground intersection and union are counted over the pixels that are not
ignored (ground-truth value 255 in LISA). gIoU is the mean over samples of
``I / (U + 1e-5)``, plus 1 when ``U`` is 0 (no object, nothing predicted); cIoU is the cumulative
intersection over the cumulative union, ``sum I / (sum U + 1e-10)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def intersection_union(
    pred: np.ndarray, target: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[int, int]:
    """Foreground pixel counts (intersection, union) of (H, W) bool masks outside ``ignore``."""
    keep = np.ones_like(target, dtype=bool) if ignore is None else ~ignore
    pred, target = pred & keep, target & keep
    return int(np.count_nonzero(pred & target)), int(np.count_nonzero(pred | target))


def giou_ciou(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """(gIoU, cIoU) of per-sample (intersection, union) counts."""
    ious = [i / (u + 1e-5) + (1.0 if u == 0 else 0.0) for i, u in counts]
    total_i = sum(i for i, _ in counts)
    total_u = sum(u for _, u in counts)
    return float(np.mean(ious)), float(total_i / (total_u + 1e-10))
