"""Score a benchmark's predicted masks in parallel and write ``summary.json`` and a CSV.

Each expression's J and F are the means over its frames (:func:`sequence_scores`); the benchmark's
J and F are the means over expressions and J&F their mean, as the ReasonVOS and MeViS scripts
report. An expression whose predictions are missing (its folder, a parent folder or any frame) is
left out of the means, as the published scripts leave it out (``MISSING_RULES[0]``, "skip"), or
scored with empty masks ("empty"); either way the missing paths are listed.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from videolisa.errors import UserInputError
from videolisa.evaluation.layouts import EvalItem, read_ground_truth, read_mask_png
from videolisa.evaluation.metrics import sequence_scores

logger = logging.getLogger(__name__)

# How an expression with missing predictions is scored: "skip" leaves it out of the means (the
# published ReasonVOS and MeViS scripts skip a missing folder, and their worker fails on a missing
# frame, which leaves the expression out too); "empty" scores the missing masks as empty.
MISSING_RULES: tuple[str, ...] = ("skip", "empty")


@dataclass(frozen=True)
class ItemScore:
    """J and F of one expression, and its predictions that were missing.

    ``missing`` holds paths relative to the prediction root: the first missing folder on the way to
    the expression's folder, otherwise each missing frame file. ``j`` and ``f`` are None when the
    expression was left out for them (the "skip" rule).
    """

    key: str
    j: float | None
    f: float | None
    missing: tuple[str, ...]


def score_item(item: EvalItem, pred_root: Path, missing_rule: str = "skip") -> ItemScore:
    """Read one expression's masks and score them.

    Args:
        item: the expression, from :func:`videolisa.evaluation.layouts.load_items`.
        pred_root: folder ``item.pred_dir`` is relative to.
        missing_rule: one of :data:`MISSING_RULES`.
    """
    if missing_rule not in MISSING_RULES:
        raise ValueError(f"missing_rule must be one of {MISSING_RULES}, got {missing_rule!r}")
    pred_dir = pred_root / item.pred_dir
    missing_folder = _first_missing_folder(pred_root, item.pred_dir)
    if missing_folder is not None:
        found: list[np.ndarray | None] = [None] * len(item.frame_files)
        missing: tuple[str, ...] = (missing_folder,)
    else:
        paths = [pred_dir / name for name in item.frame_files]
        found = [read_mask_png(path) if path.is_file() else None for path in paths]
        missing = tuple(
            f"{item.pred_dir}/{name}"
            for name, mask in zip(item.frame_files, found, strict=True)
            if mask is None
        )
    if missing and missing_rule == "skip":
        return ItemScore(item.key, None, None, missing)
    gts = read_ground_truth(item.gt)
    shape = _frame_shape(gts, found)
    preds = np.zeros((len(found), *shape), dtype=bool)
    for t, (name, mask) in enumerate(zip(item.frame_files, found, strict=True)):
        if mask is None:
            continue
        if mask.shape != shape:
            raise UserInputError(
                f"Predicted mask {pred_dir / name} is {mask.shape[1]}x{mask.shape[0]} but its "
                f"ground truth is {shape[1]}x{shape[0]}.",
                "Save predictions at the original frame size.",
            )
        preds[t] = mask
    j, f = sequence_scores(preds, np.zeros_like(preds) if gts is None else gts)
    return ItemScore(item.key, j, f, missing)


def _first_missing_folder(pred_root: Path, pred_dir: str) -> str | None:
    """The first folder of ``pred_dir`` (relative, POSIX) that does not exist, or None."""
    parts = PurePosixPath(pred_dir).parts
    for depth in range(1, len(parts) + 1):
        if not pred_root.joinpath(*parts[:depth]).is_dir():
            return "/".join(parts[:depth])
    return None


def score_items(
    items: Sequence[EvalItem],
    pred_root: Path,
    workers: int,
    missing_rule: str = "skip",
    on_done: Callable[[], None] | None = None,
) -> list[ItemScore]:
    """Score every item, on ``workers`` processes (1: in this process), in the items' order.

    Args:
        items: expressions from :func:`videolisa.evaluation.layouts.load_items`.
        pred_root: folder the items' ``pred_dir`` are relative to.
        workers: number of processes, at least 1.
        missing_rule: one of :data:`MISSING_RULES`.
        on_done: called once per finished item, e.g. to advance a progress bar.
    """
    score = partial(score_item, pred_root=pred_root, missing_rule=missing_rule)
    done: dict[int, ItemScore] = {}
    if workers == 1 or len(items) == 1:
        for index, item in enumerate(items):
            done[index] = score(item)
            if on_done:
                on_done()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
            futures = {pool.submit(score, item): index for index, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    if on_done:
                        on_done()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    scores = [done[index] for index in range(len(items))]
    missing = [path for result in scores for path in result.missing]
    if missing:
        affected = sum(1 for result in scores if result.missing)
        logger.warning(
            "%d predicted mask(s) or folder(s) missing for %d of %d expressions, %s (first: %s)",
            len(missing),
            affected,
            len(scores),
            "left out of the scores" if missing_rule == "skip" else "scored as empty masks",
            missing[0],
        )
    return scores


def summarize(scores: Sequence[ItemScore]) -> dict[str, Any]:
    """``{"J", "F", "J&F", "per_expression": {key: [J, F]}, "skipped": [key, ...], "missing":
    [path, ...]}``: the means over the scored expressions (None when none was scored), the keys
    left out for missing predictions and the missing paths."""
    scored = [score for score in scores if score.j is not None]
    j = float(np.mean([score.j for score in scored])) if scored else None
    f = float(np.mean([score.f for score in scored])) if scored else None
    return {
        "J": j,
        "F": f,
        "J&F": (j + f) / 2 if scored else None,
        "per_expression": {score.key: [score.j, score.f] for score in scored},
        "skipped": [score.key for score in scores if score.j is None],
        "missing": [path for score in scores for path in score.missing],
    }


def prepare_out_dir(out_dir: Path) -> None:
    """Create the report folder (and its parents) unless it exists."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(
            f"Cannot create output folder {out_dir}: {error.strerror}.",
            "Pass a writable folder path to --out.",
        ) from error


def write_reports(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``per_expression.csv`` (key, J, F, J&F) into ``out_dir``.

    Returns:
        The two paths written.
    """
    prepare_out_dir(out_dir)
    summary_path = out_dir / "summary.json"
    csv_path = out_dir / "per_expression.csv"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["key", "J", "F", "J&F"])
        for key, (j, f) in summary["per_expression"].items():
            writer.writerow([key, j, f, (j + f) / 2])
    return summary_path, csv_path


def _frame_shape(gts: np.ndarray | None, found: Sequence[np.ndarray | None]) -> tuple[int, int]:
    """(H, W) of the ground truth, else of the first prediction found, else (1, 1).

    Without either, every frame compares an empty mask with an empty mask (J = F = 1), whatever
    the size.
    """
    if gts is not None:
        return gts.shape[1], gts.shape[2]
    present = [mask for mask in found if mask is not None]
    return present[0].shape if present else (1, 1)
