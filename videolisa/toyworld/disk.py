"""Toy-world samples on disk, in the published ReasonVOS folder layout with a few extra fields.

::

    DIR/JPEGImages/<video>/<frame:05d>.jpg                   RGB frames
    DIR/Annotations/toyworld_<video>_<obj>/<frame:05d>.png   0/255 visible pixels of object <obj>
    DIR/meta_expressions.json

``meta_expressions.json`` is ReasonVOS's ``{"videos": {<video>: {"source": "toyworld", "frames":
["00000", ...], "expressions": [{"obj_id", "exp_id", "exp_text", "is_sent"}, ...]}}}``: the
sample's ``exp_text`` is the last question and ``obj_id`` its first track object (null when the
answer tracks none). Toy-world fields beside them: per video ``objects`` (``ObjectSpec`` fields),
per expression ``answer``, ``kind``, ``obj_ids`` (all track objects, one per ``<TRK>``) and
``history`` (earlier turns as ``[question, answer]``; they track no objects). Object ids are
0..N-1. A plain ReasonVOS folder reads too (no ``objects``: the masks of ids up to the largest one
named are read; the answer is the forced ``Sure, <TRK>.``).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from videolisa.errors import UserInputError
from videolisa.toyworld import Sample
from videolisa.toyworld.questions import SINGLE_ANSWER, TRK, Turn
from videolisa.toyworld.world import ObjectSpec

log = logging.getLogger(__name__)

META = "meta_expressions.json"
SOURCE = "toyworld"
JPEG_QUALITY = 95


def write_sample(sample: Sample, root: Path) -> dict:
    """Write the frames and masks of ``sample`` under ``root``; return its ``videos`` entry."""
    if any(turn.track_objects for turn in sample.turns[:-1]):
        raise ValueError("only the last turn of a sample may track objects")
    frame_dir = root / "JPEGImages" / sample.video_id
    frame_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{t:05d}" for t in range(len(sample.frames))]
    for name, frame in zip(names, sample.frames, strict=True):
        Image.fromarray(frame).save(frame_dir / f"{name}.jpg", quality=JPEG_QUALITY, subsampling=0)
    for obj_id, masks in enumerate(sample.masks):
        mask_dir = root / "Annotations" / f"{SOURCE}_{sample.video_id}_{obj_id}"
        mask_dir.mkdir(parents=True, exist_ok=True)
        for name, mask in zip(names, masks, strict=True):
            Image.fromarray(mask.astype(np.uint8) * 255).save(mask_dir / f"{name}.png")
    last = sample.turns[-1]
    expression = {
        "obj_id": int(last.track_objects[0]) if last.track_objects else None,
        "exp_id": 0,
        "exp_text": last.question,
        "is_sent": True,
        "answer": last.answer,
        "kind": sample.kind,
        "obj_ids": [int(n) for n in last.track_objects],
        "history": [[turn.question, turn.answer] for turn in sample.turns[:-1]],
    }
    return {
        "source": SOURCE,
        "frames": names,
        "objects": [asdict(o) for o in sample.objects],
        "expressions": [expression],
    }


def write_toyworld_folder(samples: Iterable[Sample], root: Path) -> int:
    """Write ``samples`` (distinct video ids) as a data set in ``root``; return how many.

    Raises :class:`UserInputError` if ``root`` already holds a data set.
    """
    root = Path(root)
    if (root / META).exists():
        raise UserInputError(
            f"{root} already holds a data set ({META}).", "Choose a new folder or delete it."
        )
    videos: dict[str, dict] = {}
    for sample in samples:
        if sample.video_id in videos:
            raise ValueError(f"video id {sample.video_id!r} is written twice")
        videos[sample.video_id] = write_sample(sample, root)
        log.debug("wrote %s (%s)", sample.video_id, sample.kind)
    (root / META).write_text(json.dumps({"videos": videos}, indent=1))
    return len(videos)


def read_toyworld_folder(path: Path) -> Iterator[Sample]:
    """Read a data set written by :func:`write_toyworld_folder`: one sample per expression.

    Frames come back from JPEG (lossy), masks exactly. Raises :class:`UserInputError` if the
    layout is broken.
    """
    root = Path(path)
    try:
        videos = json.loads((root / META).read_text())["videos"]
    except (OSError, ValueError, KeyError) as error:
        raise UserInputError(
            f"{root} is not a ReasonVOS-style data set: cannot read {META} ({error}).",
            "Point to a folder written by 'python -m videolisa toyworld'.",
        ) from error
    for video_id, video in videos.items():
        try:
            objects = tuple(_object_spec(d) for d in video.get("objects", []))
            expressions = [_expression(e) for e in video["expressions"]]
            names = video["frames"]
            annotations = root / "Annotations" / f"{video['source']}_{video_id}"
        except (KeyError, TypeError, ValueError) as error:
            raise UserInputError(
                f"Entry {video_id!r} of {root / META} is malformed ({error!r}).",
                "Give it 'source', 'frames' and a list of 'expressions' with 'exp_text' and "
                "'obj_id' (ReasonVOS keys).",
            ) from error
        frames = np.stack(
            [_read(root / "JPEGImages" / video_id / f"{f}.jpg", "RGB") for f in names]
        )
        count = len(objects) or 1 + max((n for e in expressions for n in e["obj_ids"]), default=-1)
        masks = np.zeros((count, *frames.shape[:3]), dtype=bool)
        for n, (t, name) in itertools.product(range(count), enumerate(names)):
            masks[n, t] = _read(Path(f"{annotations}_{n}") / f"{name}.png", "L") > 127
        for expression in expressions:
            yield Sample(frames, masks, objects, _turns(expression), expression["kind"], video_id)


def _object_spec(fields: dict) -> ObjectSpec:
    fields = {**fields, "start": tuple(fields["start"]), "velocity": tuple(fields["velocity"])}
    return ObjectSpec(**fields)


def _expression(raw: dict) -> dict:
    """``raw`` with defaults for a plain ReasonVOS entry (one tracked object, no answer text)."""
    expression = {
        "answer": SINGLE_ANSWER,
        "kind": "",
        "obj_ids": [raw["obj_id"]],
        "history": [],
        **raw,
    }
    if not isinstance(expression["exp_text"], str):
        raise TypeError("exp_text must be a string")
    expression["obj_ids"] = [int(n) for n in expression["obj_ids"]]
    return expression


def _turns(expression: dict) -> tuple[Turn, ...]:
    history, answer, ids = expression["history"], expression["answer"], expression["obj_ids"]
    if any(TRK in previous for _, previous in history):
        raise UserInputError(
            f"A history answer contains {TRK}; earlier turns cannot track objects here.",
            "Keep tracks in the last answer only.",
        )
    if answer.count(TRK) != len(ids):
        raise UserInputError(
            f"Answer {answer!r} has {answer.count(TRK)} {TRK} but obj_ids lists {len(ids)}.",
            f"Give one obj_id per {TRK}.",
        )
    last = Turn(expression["exp_text"], answer, tuple(ids))
    return (*(Turn(q, a) for q, a in history), last)


def _read(path: Path, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode))
    except OSError as error:
        raise UserInputError(f"Cannot read {path}: {error}.", "Rewrite the data set.") from error
