"""MeViS (henghuiding/MeViS), one split folder: ``DATA/JPEGImages/<video>/*.jpg``,
``DATA/meta_expressions.json`` (``{"videos": {video: {"frames", "expressions": {exp_id:
{"exp", "anno_id"}}}}}``) and, for ``valid_u``, ``DATA/mask_dict.json``.

As in the published ``evaluation/mevis_val_u/inference_mevis.py``, the videos run are the folders of
``JPEGImages`` (here in sorted order), each with every expression the meta file lists for it. With
``mask_dict.json`` (valid_u) predictions go to ``OUT/predictions/<video>/<exp_id>/`` and are scored
as ``eval-masks --layout mevis`` scores them (a video of the meta file without frames is left out,
as the published scorer leaves out a video without predictions); without it (valid, scored on the
server) they go to ``OUT/Annotations/<video>/<exp_id>/`` and into ``OUT/submission.zip``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from videolisa.evaluation.benchmarks.base import (
    jpeg_frames,
    meta_videos,
    text_field,
    video_folders,
)
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.layouts import load_items
from videolisa.evaluation.prompts import referring_question
from videolisa.evaluation.score_masks import score_item


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The MeViS expressions of the split folder ``data``."""
    meta = data / "meta_expressions.json"
    mask_dict = data / "mask_dict.json"
    scored = mask_dict.is_file()
    predictions = "predictions" if scored else "Annotations"
    (out_dir / predictions).mkdir(parents=True, exist_ok=True)
    eval_items = (
        {item.key: item for item in load_items("mevis", out_dir / predictions, mask_dict, meta)}
        if scored
        else {}
    )
    videos = meta_videos(meta)
    expressions = []
    for folder in video_folders(data / "JPEGImages", videos, meta):
        frames = jpeg_frames(folder)
        video = folder.name
        for exp_id, expression in videos[video]["expressions"].items():
            key = f"{video}_{exp_id}"
            text = text_field(expression, "exp", f"Expression {exp_id} of {video} in {meta}")
            expressions.append(
                VideoExpression(
                    key=key,
                    frame_paths=frames,
                    question=referring_question(text),
                    pred_dir=f"{video}/{exp_id}",
                    score=partial(score_item, eval_items[key]) if scored else None,
                )
            )
    return VideoBenchmark("mevis", expressions, predictions, submission=not scored)
