"""ReasonVOS as published (showlab/VideoLISA ``BENCHMARK.md``, ``benchmark_check.py`` and
``evaluation/reason_vos/inference_reason_vos.py``): ``DATA/JPEGImages/<video>/*.jpg``,
``DATA/Annotations/<vid_key>/*.png`` with ``vid_key = <source>_<video>_<obj_id>``, and
``DATA/meta_expressions.json``::

    {"videos": {video: {"source": ..., "frames": [...],
                        "expressions": [{"obj_id": ..., "exp_id": ..., "exp_text": ...,
                                         "is_sent": ...}, ...]}}}

Every sample of ``expressions`` is run on its own, in file order, with its own ``is_sent``
deciding the question; its masks go to ``OUT/predictions/<vid_key>/<exp_id>/<frame>.png`` (as the
published inference script writes them) and are scored as ``eval-masks`` scores them, under
``<vid_key>_<exp_id>``.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import jpeg_frames, text_field
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.layouts import reasonvos_expressions
from videolisa.evaluation.prompts import reasonvos_question
from videolisa.evaluation.score_masks import score_item

logger = logging.getLogger(__name__)


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The ReasonVOS expressions in ``data``, predicted into ``out_dir/predictions``."""
    meta = data / "meta_expressions.json"
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    frames: dict[str, tuple[Path, ...]] = {}
    expressions: dict[str, VideoExpression] = {}
    for expression in reasonvos_expressions(data / "Annotations", meta):
        item, sample, video = expression.item, expression.sample, expression.video
        if item.key in expressions:
            logger.warning("%s is listed twice in %s; it is run once", item.key, meta)
            continue
        if video not in frames:
            frames[video] = jpeg_frames(data / "JPEGImages" / video)
        where = f"Expression {sample['exp_id']} of {video} in {meta}"
        is_sentence = sample.get("is_sent")
        if not isinstance(is_sentence, bool | int):
            raise UserInputError(f'{where} lacks a true/false "is_sent".', "Pass ReasonVOS.")
        expressions[item.key] = VideoExpression(
            key=item.key,
            frame_paths=frames[video],
            question=reasonvos_question(text_field(sample, "exp_text", where), bool(is_sentence)),
            pred_dir=item.pred_dir,
            score=partial(score_item, item),
        )
    return VideoBenchmark("reasonvos", expressions.values())
