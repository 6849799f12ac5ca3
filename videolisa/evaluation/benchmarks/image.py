"""Image benchmarks: an image is a one-frame video, asked one or more questions.

Images are read as the published evaluation reads them (``cv2.imread``, then RGB): turned upright
by their EXIF orientation tag, so an annotation made on the upright image fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import RunSettings, single_track
from videolisa.evaluation.prompts import IMAGE_ANSWER


def image_masks(
    pipeline, path: Path, questions: Sequence[str], settings: RunSettings
) -> tuple[list[str], list[np.ndarray]]:
    """The forced answers to ``questions`` about the image at ``path`` and their (H, W) masks.

    The image is encoded once; the sampling rule repeats it to fill the sparse and dense frames,
    as the published evaluation stacks copies of it.
    """
    frames = read_upright_rgb(path)[None]
    encoded = pipeline.encode(frames, settings.encode)
    answers, masks = [], []
    for question in questions:
        answer = pipeline.answer(encoded, [], question, IMAGE_ANSWER, settings.generation)
        tracks = pipeline.track_masks(encoded, answer.track_embeddings)
        answers.append(answer.text)
        masks.append(single_track(tracks, *frames.shape[:3])[0])
    return answers, masks


def read_upright_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image, rotated or flipped by its EXIF orientation."""
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except OSError as error:
        raise UserInputError(f"Cannot read image {path}: {error}.", "Check --data.") from error
