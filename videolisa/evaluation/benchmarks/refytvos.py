"""Ref-YouTube-VOS (youtube-vos.org), the dataset root as published:
``DATA/valid/JPEGImages/<video>/<frame>.jpg`` (every fifth frame of a video, named by its number:
``00000.jpg``, ``00005.jpg``, ...) and ``DATA/meta_expressions/valid/meta_expressions.json``,
``{"videos": {video: {"expressions": {exp_id: {"exp": str}}, "frames": [frame, ...]}}}``, which
also lists the test videos.

As the published ``evaluation/refytvos/inference_refytvos.py`` reads it (``main``): the videos run
are the folders of ``valid/JPEGImages`` (each must be in the meta file), each expression of a
video in the meta file's order, on all the video's ``.jpg`` frames in sorted order (its
``frames`` list is not read), asked ``"Please segment the {exp} in this image."`` (lower-cased).

The ground truth is not public: predictions go to ``OUT/Annotations/<video>/<exp_id>/<frame>.png``
(0/255, as the published script writes them) and into ``OUT/submission.zip`` (``Annotations/`` at
its root), the file the server takes.
"""

from __future__ import annotations

from pathlib import Path

from videolisa.evaluation.benchmarks.base import (
    jpeg_frames,
    meta_videos,
    text_field,
    video_folders,
)
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.prompts import referring_question


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The Ref-YouTube-VOS valid expressions under the dataset root ``data``."""
    meta = data / "meta_expressions" / "valid" / "meta_expressions.json"
    videos = meta_videos(meta)
    expressions = []
    for folder in video_folders(data / "valid" / "JPEGImages", videos, meta):
        video = folder.name
        frames = jpeg_frames(folder)
        for exp_id, expression in videos[video]["expressions"].items():
            text = text_field(expression, "exp", f"Expression {exp_id} of {video} in {meta}")
            expressions.append(
                VideoExpression(
                    key=f"{video}_{exp_id}",
                    frame_paths=frames,
                    question=referring_question(text),
                    pred_dir=f"{video}/{exp_id}",
                )
            )
    return VideoBenchmark("refytvos", expressions, "Annotations", submission=True)
