"""Image benchmarks: an image is a one-frame video, asked one or more questions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videolisa.evaluation.benchmarks.base import RunSettings, read_rgb_frames, single_track
from videolisa.evaluation.prompts import IMAGE_ANSWER


def image_masks(
    pipeline, path: Path, questions: Sequence[str], settings: RunSettings
) -> tuple[list[str], list[np.ndarray]]:
    """The forced answers to ``questions`` about the image at ``path`` and their (H, W) masks.

    The image is encoded once; the sampling rule repeats it to fill the sparse and dense frames,
    as the published evaluation stacks copies of it.
    """
    frames = read_rgb_frames([path])
    encoded = settings.encode(pipeline, frames)
    answers, masks = [], []
    for question in questions:
        answer = pipeline.answer(encoded, [], question, forced_answer=IMAGE_ANSWER)
        tracks = pipeline.track_masks(encoded, answer.track_embeddings)
        answers.append(answer.text)
        masks.append(single_track(tracks, *frames.shape[:3])[0])
    return answers, masks
