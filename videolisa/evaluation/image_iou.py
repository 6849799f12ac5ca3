"""gIoU and cIoU of image segmentation, as VideoLISA's ``evaluation/eval_img/val.py`` reports them
for ReasonSeg and refCOCO (LISA's ``validate``).

Per sample, the foreground intersection and union are counted over the pixels that are not
ignored (ground-truth value 255 in LISA); a pixel the prediction covers but the ground truth
holds as neither 0 nor 1 (overlapping COCO parts) counts in the union only. A sample's IoU is
``I / (U + 1e-5)``, plus 1 when ``U`` is 0 (no object, nothing predicted).

The published script repeats each image over its dense frames (``--num_frames_dense=4`` in
``run_validate.sh``) and scores every copy, so each sample counts :data:`DENSE_COPIES` times in
``AverageMeter``, whose mean after ``all_reduce`` is the sum over ``count + 1e-5``: gIoU is
``4 Σ IoU / (4 N + 1e-5)`` and cIoU ``4 Σ I / (4 Σ U + 1e-10)`` (the published values are
float32, so they agree with these to about 1e-7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DENSE_COPIES = 4  # copies of an image scored by the published evaluation, one per dense frame


def intersection_union(
    pred: np.ndarray, target: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[int, int]:
    """Foreground pixel counts (intersection, union) of (H, W) bool masks outside ``ignore``."""
    keep = np.ones_like(target, dtype=bool) if ignore is None else ~ignore
    pred, target = pred & keep, target & keep
    return int(np.count_nonzero(pred & target)), int(np.count_nonzero(pred | target))


def giou_ciou(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """(gIoU, cIoU) of per-sample (intersection, union) counts, as the published script sums
    them."""
    ious = [i / (u + 1e-5) + (1.0 if u == 0 else 0.0) for i, u in counts]
    total_i = DENSE_COPIES * sum(i for i, _ in counts)
    total_u = DENSE_COPIES * sum(u for _, u in counts)
    giou = DENSE_COPIES * sum(ious) / (DENSE_COPIES * len(ious) + 1e-5)
    return float(giou), float(total_i / (total_u + 1e-10))
