"""The ReasonVOS and MeViS benchmark layouts: which masks to compare, and how to read them.

ReasonVOS (showlab/VideoLISA ``evaluation/reason_vos/eval_reason_vos.py``, ``__main__`` and
``eval_queue``)
    ``meta_expressions.json``: ``{"videos": {video: {"source": ..., "frames": [...],
    "expressions": [{"obj_id": ..., "exp_id": ..., "exp_text": ..., "is_sent": ...}, ...]}}}``:
    ``expressions`` is a list of samples. A sample's object is ``vid_key =
    <source>_<video>_<obj_id>``; it is scored under ``<vid_key>_<exp_id>``, so two expressions of
    one object are two scores. Ground truth: ``GT/<vid_key>/<frame>.png``, the frames being the PNG
    files of that folder in sorted order. Predictions: ``PRED/<vid_key>/<exp_id>/<frame>.png`` with
    the same file names.
MeViS (``evaluation/mevis_val_u/eval_mevis.py``)
    ``meta_expressions.json``: ``{"videos": {video: {"frames": [...], "expressions": {exp_id:
    {"exp": ..., "obj_id": [...], "anno_id": [...]}}}}}`` (an object keyed by expression id) and
    ``mask_dict.json``: ``{anno_id: [COCO RLE or null per frame]}``; an expression's ground truth
    is the union of its ``anno_id`` masks. Key ``<video>_<exp_id>``; predictions
    ``PRED/<video>/<exp_id>/<frame>.png``.

A pixel is foreground when its grey level is nonzero, as after the published scripts'
``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``; palette and colour PNGs get libpng's grey conversion
that this read uses, so even nearly black colours agree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from videolisa.errors import ConfigError, UserInputError

LAYOUTS: tuple[str, ...] = ("reasonvos", "mevis")


@dataclass(frozen=True)
class PngMasks:
    """Ground truth stored as one PNG mask per frame."""

    paths: tuple[Path, ...]


@dataclass(frozen=True)
class RleMasks:
    """Ground truth stored as COCO run-length encodings (MeViS ``mask_dict.json``).

    ``frames[t]`` holds the RLEs whose union is frame t's mask (empty: nothing annotated);
    ``size`` is their (H, W), or None when no frame has any.
    """

    frames: tuple[tuple[dict[str, Any], ...], ...]
    size: tuple[int, int] | None


@dataclass(frozen=True)
class EvalItem:
    """One expression to score.

    ``pred_dir`` is the prediction folder relative to the prediction root (POSIX separators) and
    ``frame_files`` the PNG file names expected in it, one per ground-truth frame, in order.
    """

    key: str
    pred_dir: str
    frame_files: tuple[str, ...]
    gt: PngMasks | RleMasks


def load_items(layout: str, pred_root: Path, gt: Path, meta: Path) -> list[EvalItem]:
    """The expressions of a benchmark, in ``meta_expressions.json`` order, one per key (a key
    listed twice counts once, as in the published scripts' result dictionaries).

    Args:
        layout: one of :data:`LAYOUTS`.
        pred_root: folder of predicted masks.
        gt: ReasonVOS: the annotations folder; MeViS: ``mask_dict.json`` or its folder.
        meta: ``meta_expressions.json``.

    Raises:
        UserInputError: an unknown layout, a missing folder or file, or a malformed json file.
    """
    if not pred_root.is_dir():
        raise UserInputError(
            f"Prediction folder {pred_root} does not exist.", "Pass the folder given to --pred."
        )
    if layout not in LAYOUTS:
        raise ConfigError(f"Unknown layout {layout!r}.", f"Use one of: {', '.join(LAYOUTS)}.")
    if layout == "reasonvos":
        items = [expression.item for expression in reasonvos_expressions(gt, meta)]
    else:
        items = _mevis_items(gt, _read_videos(meta), meta)
    unique: dict[str, EvalItem] = {}
    for item in items:
        unique.setdefault(item.key, item)
    if not unique:
        raise UserInputError(f"{meta} lists no expressions.", "Pass the benchmark's meta file.")
    return list(unique.values())


# libpng's 8-bit RGB-to-grey weights for 0.299 R + 0.587 G (15-bit fixed point); grey is the
# weighted sum >> 15, so it is nonzero when the sum reaches 1 << 15.
_GREY_WEIGHTS = np.array([9797, 19234, 3737], dtype=np.uint32)
_COLOUR_MODES = ("RGB", "RGBA", "P", "PA")


def read_mask_png(path: Path) -> np.ndarray:
    """(H, W) bool mask of a PNG file: True where its grey level is nonzero."""
    try:
        with Image.open(path) as image:
            if image.mode in _COLOUR_MODES:
                rgb = np.asarray(image.convert("RGB"), dtype=np.uint32)
                return rgb @ _GREY_WEIGHTS >= 1 << 15
            if image.mode.startswith("I"):  # 16-bit grey: OpenCV keeps the high byte
                return np.asarray(image) >> 8 != 0
            return np.asarray(image.convert("L")) > 0
    except (OSError, UnidentifiedImageError) as error:
        raise UserInputError(
            f"Cannot read mask {path}: {error}.", "Masks must be PNG images."
        ) from error


def read_ground_truth(gt: PngMasks | RleMasks) -> np.ndarray | None:
    """(T, H, W) bool ground-truth masks, or None when RLE ground truth has no size at all."""
    if isinstance(gt, PngMasks):
        frames = [read_mask_png(path) for path in gt.paths]
        for path, frame in zip(gt.paths, frames, strict=True):
            if frame.shape != frames[0].shape:
                raise UserInputError(
                    f"Ground-truth mask {path} is {frame.shape[1]}x{frame.shape[0]}, unlike "
                    f"{gt.paths[0].name} ({frames[0].shape[1]}x{frames[0].shape[0]}).",
                    "All frames of a video must have one size.",
                )
        return np.stack(frames)
    if gt.size is None:
        return None
    masks = np.zeros((len(gt.frames), *gt.size), dtype=bool)
    for t, rles in enumerate(gt.frames):
        for rle in rles:
            masks[t] |= decode_rle(rle)
    return masks


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """(H, W) bool mask of a compressed COCO RLE ``{"size": [H, W], "counts": str}``.

    The counts string holds run lengths, alternately background and foreground, of the mask read
    column by column. Each run is a little-endian series of 5-bit groups stored as
    ``chr(48 + group)``, bit 0x20 meaning "more groups follow" and bit 0x10 of the last group the
    sign; from the third run on, the value is a difference to the run two places earlier.
    """
    height, width = rle["size"]
    counts = rle["counts"]
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos == len(counts):
                raise _damaged_rle(height, width)
            group = ord(counts[pos]) - 48
            pos += 1
            value |= (group & 0x1F) << shift
            shift += 5
            more = bool(group & 0x20)
            if not more and group & 0x10:
                value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    if sum(runs) != height * width or min(runs, default=0) < 0:
        raise _damaged_rle(height, width)
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(width, height).T


@dataclass(frozen=True)
class ReasonVOSExpression:
    """One sample of a ReasonVOS ``expressions`` list, with the item that scores it."""

    video: str
    sample: dict[str, Any]
    item: EvalItem


def reasonvos_expressions(gt_root: Path, meta: Path) -> list[ReasonVOSExpression]:
    """Every sample of a ReasonVOS ``meta_expressions.json``, in file order.

    Args:
        gt_root: the ``Annotations`` folder.
        meta: ``meta_expressions.json``.
    """
    if not gt_root.is_dir():
        raise UserInputError(
            f"Ground-truth folder {gt_root} does not exist.",
            "Pass ReasonVOS's Annotations folder to --gt.",
        )
    ground_truth: dict[str, PngMasks] = {}  # per vid_key: expressions of an object share it
    expressions = []
    for video, entry in _read_videos(meta).items():
        source = _field(entry, "source", str, meta, video)
        for n, sample in enumerate(_reasonvos_samples(entry, meta, video)):
            where = f"{video}, expression {n}"
            obj_id = _field(sample, "obj_id", (int, str), meta, where)
            exp_id = _field(sample, "exp_id", (int, str), meta, where)
            vid_key = f"{source}_{video}_{obj_id}"
            if vid_key not in ground_truth:
                ground_truth[vid_key] = _png_folder(gt_root / vid_key, where)
            gt = ground_truth[vid_key]
            item = EvalItem(
                key=f"{vid_key}_{exp_id}",
                pred_dir=f"{vid_key}/{exp_id}",
                frame_files=tuple(path.name for path in gt.paths),
                gt=gt,
            )
            expressions.append(ReasonVOSExpression(video, sample, item))
    return expressions


def _reasonvos_samples(entry: Any, meta: Path, video: str) -> list[dict[str, Any]]:
    """The ``expressions`` list of a ReasonVOS video entry, each sample a JSON object."""
    samples = entry.get("expressions") if isinstance(entry, dict) else None
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise UserInputError(
            f'Video {video} in {meta} has no "expressions" list of objects (ReasonVOS lists '
            'each expression as {"obj_id", "exp_id", "exp_text", "is_sent"}).',
            "Pass ReasonVOS's meta_expressions.json, or --layout mevis for MeViS.",
        )
    return samples


def _png_folder(folder: Path, where: str) -> PngMasks:
    """The PNG masks of a ground-truth folder, in sorted order."""
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png")) if folder.is_dir() else []
    if not names:
        raise UserInputError(
            f"No ground-truth masks in {folder} (video {where}).",
            "Check that --gt and --meta come from the same ReasonVOS release.",
        )
    return PngMasks(tuple(folder / name for name in names))


def _mevis_items(gt: Path, videos: dict[str, Any], meta: Path) -> list[EvalItem]:
    mask_path = gt / "mask_dict.json" if gt.is_dir() else gt
    mask_dict = read_json(mask_path, "MeViS's mask_dict.json to --gt")
    if not isinstance(mask_dict, dict):
        raise UserInputError(f"{mask_path} is not a JSON object.", "Pass MeViS's mask_dict.json.")
    items = []
    for video, entry in videos.items():
        frames = _field(entry, "frames", list, meta, video)
        if not frames:
            raise UserInputError(
                f"Video {video} in {meta} lists no frames.", "Pass MeViS's meta_expressions.json."
            )
        for exp_id, expression in _mevis_expressions(entry, meta, video).items():
            anno_ids = _field(expression, "anno_id", list, meta, f"{video}/{exp_id}")
            per_anno = []
            for anno_id in anno_ids:
                rles = mask_dict.get(str(anno_id))
                if not isinstance(rles, list) or len(rles) != len(frames):
                    raise UserInputError(
                        f"{mask_path} has no {len(frames)}-frame mask for anno_id {anno_id} "
                        f"(expression {exp_id} of video {video}).",
                        "Check that --gt and --meta come from the same MeViS split.",
                    )
                per_anno.append(rles)
            per_frame = tuple(
                tuple(rles[t] for rles in per_anno if rles[t]) for t in range(len(frames))
            )
            sizes = {_rle_size(rle, mask_path) for rles in per_frame for rle in rles}
            if len(sizes) > 1:
                raise UserInputError(
                    f"The masks of expression {exp_id} of video {video} in {mask_path} differ "
                    f"in size: {sorted(sizes)}.",
                    "Pass MeViS's mask_dict.json.",
                )
            items.append(
                EvalItem(
                    key=f"{video}_{exp_id}",
                    pred_dir=f"{video}/{exp_id}",
                    frame_files=tuple(f"{frame}.png" for frame in frames),
                    gt=RleMasks(per_frame, sizes.pop() if sizes else None),
                )
            )
    return items


def _rle_size(rle: Any, mask_path: Path) -> tuple[int, int]:
    """(H, W) of a COCO RLE from ``mask_dict.json``, checking its fields."""
    size = rle.get("size") if isinstance(rle, dict) else None
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(n, int) and n > 0 for n in size)
        or not isinstance(rle.get("counts"), str)
    ):
        raise UserInputError(
            f'{mask_path} holds a mask that is not a COCO RLE {{"size": [H, W], "counts": "..."}}.',
            "Pass MeViS's mask_dict.json.",
        )
    return size[0], size[1]


def _damaged_rle(height: int, width: int) -> UserInputError:
    return UserInputError(
        f"A mask RLE does not describe a {width}x{height} mask.",
        "The mask_dict.json file is damaged; download it again.",
    )


def _read_videos(meta: Path) -> dict[str, Any]:
    """The ``videos`` object of a ``meta_expressions.json`` file."""
    content = read_json(meta, "the benchmark's meta_expressions.json to --meta")
    videos = content.get("videos") if isinstance(content, dict) else None
    if not isinstance(videos, dict):
        raise UserInputError(
            f'{meta} has no "videos" object.', "Pass the benchmark's meta_expressions.json."
        )
    return videos


def read_json(path: Path, what: str) -> Any:
    """The content of a JSON file; ``what`` says which file to pass in the error message."""
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError as error:
        raise UserInputError(f"{path} does not exist.", f"Pass {what}.") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"Cannot read {path} as JSON: {error}.", f"Pass {what}.") from error


def _mevis_expressions(entry: Any, meta: Path, video: str) -> dict[str, Any]:
    """The ``expressions`` object of a MeViS video entry, keyed by expression id."""
    expressions = _field(entry, "expressions", dict, meta, video)
    for exp_id, expression in expressions.items():
        if not isinstance(expression, dict):
            raise UserInputError(
                f"Expression {exp_id} of video {video} in {meta} is not a JSON object.",
                "Pass the benchmark's meta_expressions.json.",
            )
    return expressions


def _field(entry: Any, name: str, kind: type | tuple[type, ...], meta: Path, where: str) -> Any:
    """``entry[name]``, which must be of type ``kind``; ``where`` names the entry in messages."""
    value = entry.get(name) if isinstance(entry, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UserInputError(
            f'Entry {where} in {meta} lacks a valid "{name}" field.',
            "Pass the meta_expressions.json of the layout given to --layout.",
        )
    return value
