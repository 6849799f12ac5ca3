"""Ref-YouTube-VOS (youtube-vos.org), the dataset root: ``DATA/valid/JPEGImages/<video>/*.jpg``
and ``DATA/meta_expressions/valid/meta_expressions.json`` (``{"videos": {video: {"frames",
"expressions": {exp_id: {"exp"}}}}}``, which also lists test videos; the videos run are those
with frames in ``valid/JPEGImages``, as in the published script).

The ground truth is not public: predictions go to ``OUT/Annotations/<video>/<exp_id>/<frame>.png``
and into ``OUT/submission.zip`` (``Annotations/`` at its root), the file the server takes.
"""

from __future__ import annotations

from pathlib import Path

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import jpeg_frames, meta_videos, text_field
from videolisa.evaluation.benchmarks.video import VideoBenchmark, VideoExpression
from videolisa.evaluation.prompts import referring_question


def load(data: Path, out_dir: Path) -> VideoBenchmark:
    """The Ref-YouTube-VOS valid expressions under the dataset root ``data``."""
    meta = data / "meta_expressions" / "valid" / "meta_expressions.json"
    videos = meta_videos(meta)
    frame_root = data / "valid" / "JPEGImages"
    if not frame_root.is_dir():
        raise UserInputError(f"{frame_root} does not exist.", "Pass the Ref-YouTube-VOS root.")
    expressions = []
    for folder in sorted(p for p in frame_root.iterdir() if p.is_dir()):
        video = folder.name
        if video not in videos:
            raise UserInputError(f"Video {video} is not in {meta}.", "Use one release's files.")
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
