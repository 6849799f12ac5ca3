"""The published evaluation prompts, LISA's gIoU / cIoU and the ReasonSeg ground-truth drawing."""

from __future__ import annotations

import numpy as np
import pytest

from videolisa.evaluation.benchmarks.reasonseg import polygon_labels
from videolisa.evaluation.image_iou import giou_ciou, intersection_union
from videolisa.evaluation.prompts import image_question, reasonvos_question, referring_question


def test_reasonvos_questions():
    asked = "Which animal is about to jump"
    assert reasonvos_question(asked, True) == f"{asked}. Please output the segmentation masks."
    # As the published script formats it: a sentence ending with a period gets a second one.
    assert reasonvos_question("The cat.", True) == "The cat.. Please output the segmentation masks."
    assert reasonvos_question("Black Cat", False) == "Please segment the black cat in this scene."


def test_referring_and_image_questions():
    assert referring_question("The Dog") == "Please segment the the dog in this image."
    assert image_question("A cup ", True) == " A cup Please output segmentation mask."
    assert image_question("cup", False) == (
        " What is cup in this video? Please output segmentation mask."
    )


def test_giou_and_ciou_as_lisa_computes_them():
    pred = np.zeros((4, 4), dtype=bool)
    pred[:2] = True  # 8 pixels
    target = np.zeros((4, 4), dtype=bool)
    target[1:3] = True  # 8 pixels, 4 shared
    ignore = np.zeros((4, 4), dtype=bool)
    ignore[0, :2] = True  # 2 predicted pixels ignored
    assert intersection_union(pred, target) == (4, 12)
    assert intersection_union(pred, target, ignore) == (4, 10)
    empty = np.zeros((4, 4), dtype=bool)
    counts = [(4, 10), intersection_union(empty, empty)]  # no object, nothing predicted: IoU 1
    giou, ciou = giou_ciou(counts)
    assert giou == pytest.approx((4 / (10 + 1e-5) + 1.0) / 2)
    assert ciou == pytest.approx(0.4)


def test_reasonseg_polygons_largest_first_ignore_and_flag():
    shapes = [
        {"label": "ignore", "points": [[2, 2], [4, 2], [4, 4], [2, 4]]},
        {"label": "target", "points": [[0, 0], [7.9, 0], [7.9, 7.9], [0, 7.9]]},
        {"label": "flag", "points": [[0, 0], [9, 0], [9, 9]]},
    ]
    labels = polygon_labels(shapes, 10, 10)
    expected = np.zeros((10, 10), dtype=np.uint8)
    expected[:8, :8] = 1  # points truncated to 7
    expected[2:5, 2:5] = 255  # the smaller polygon is drawn over the larger one
    assert np.array_equal(labels, expected)
