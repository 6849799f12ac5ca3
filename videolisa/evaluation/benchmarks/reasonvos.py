"""ReasonVOS (showlab/VideoLISA ``BENCHMARK.md``): ``DATA/JPEGImages/<video>/*.jpg``,
``DATA/Annotations/<source>_<video>_<obj_id>/*.png``, ``DATA/meta_expressions.json`` with
``{"videos": {video: {"source", "is_sent", "expressions": {exp_id: {"exp_text", "obj_id"}}}}}``.

Predictions go to ``OUT/predictions/<video>/<obj_id>/<frame>.png`` and are scored as
``eval-masks --layout reasonvos`` scores them. Expressions of a video that share an ``obj_id``
share that folder and count once, so only the first of them is run.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import jpeg_frames, meta_videos, text_field
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.layouts import load_items
from videolisa.evaluation.prompts import reasonvos_question
from videolisa.evaluation.score_masks import score_item

logger = logging.getLogger(__name__)


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The ReasonVOS expressions in ``data``, predicted into ``out_dir/predictions``."""
    meta = data / "meta_expressions.json"
    predictions = out_dir / "predictions"
    predictions.mkdir(parents=True, exist_ok=True)
    eval_items = {
        item.key: item for item in load_items("reasonvos", predictions, data / "Annotations", meta)
    }
    expressions: dict[str, VideoExpression] = {}
    skipped = 0
    for video, entry in meta_videos(meta).items():
        is_sentence = entry.get("is_sent")
        if not isinstance(is_sentence, bool):
            raise UserInputError(f'Video {video} in {meta} lacks "is_sent".', "Pass ReasonVOS.")
        frames = jpeg_frames(data / "JPEGImages" / video)
        for exp_id, expression in entry["expressions"].items():
            key = f"{entry['source']}_{video}_{expression['obj_id']}"
            if key in expressions:
                skipped += 1
                continue
            text = text_field(expression, "exp_text", f"Expression {exp_id} of {video} in {meta}")
            expressions[key] = VideoExpression(
                key=key,
                frame_paths=frames,
                question=reasonvos_question(text, is_sentence),
                pred_dir=f"{video}/{expression['obj_id']}",
                score=partial(score_item, eval_items[key]),
            )
    if skipped:
        logger.info("%d expressions share an object with an earlier one; they count once", skipped)
    return VideoBenchmark("reasonvos", expressions.values())
