"""Pointing at an object: clicks and boxes on one frame, answered by the model's own SAM decoder.

VideoLISA's LLM takes no visual prompt, but its SAM does: a click or a box on frame t, with the
frame's SAM embedding (already computed when the video was encoded), gives a mask there without
the LLM or any image encoder. Each positive click adds the connected region SAM segments under
it, the box adds what SAM segments for it inside the box, and each negative click takes away
the region under it (so a negative click removes what a positive one added, whatever SAM learnt
about negative points). Coordinates are the video's pixels, (x, y) from the top left.

Without a tracker, :func:`carried_masks` carries a clicked frame's mask to the others by
clicking again on each next frame, at the middle of the mask just made (measured on held-out
toy-world videos with the bundled model, ``scripts/measure_click_carrying.py``: J 0.75 over
all frames, against 0.09 for the clicked frame alone and 0.18 for a prompt embedding fitted to
the clicked frame and decoded on every frame; docs/clicks.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from videolisa.errors import ConfigError, UserInputError
from videolisa.inference.encoded_video import EncodedVideo
from videolisa.modeling.videolisa import VideoLISAModel


@dataclass(frozen=True)
class Click:
    """A click at pixel (x, y); ``positive`` adds the region under it, else removes it."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Box:
    """A box from (x0, y0) to (x1, y1), the video's pixels."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class FramePrompt:
    """What a person pointed at on frame ``frame``: clicks and an optional box."""

    frame: int
    clicks: tuple[Click, ...] = ()
    box: Box | None = None

    def check(self, num_frames: int, height: int, width: int) -> None:
        """Raises ConfigError naming what is outside the video (``num_frames`` of
        ``width`` × ``height``), a box of zero area, or a prompt with nothing in it."""
        if not 0 <= self.frame < num_frames:
            raise ConfigError(
                f"Frame {self.frame} is not in the video (frames 0 to {num_frames - 1}).",
                "Pick a frame in that range.",
            )
        if not self.clicks and self.box is None:
            raise ConfigError("Nothing to point with: no click and no box.", "Add a click.")
        for click in self.clicks:
            if not (0 <= click.x < width and 0 <= click.y < height):
                raise ConfigError(
                    f"The click at ({click.x:g}, {click.y:g}) is outside the frame "
                    f"({width}×{height}).",
                    f"Click within x 0 to {width - 1} and y 0 to {height - 1}.",
                )
        box = self.box
        if box is not None:
            inside = all(0 <= v <= width for v in (box.x0, box.x1)) and all(
                0 <= v <= height for v in (box.y0, box.y1)
            )
            if not inside:
                raise ConfigError(
                    f"The box ({box.x0:g}, {box.y0:g}, {box.x1:g}, {box.y1:g}) reaches outside "
                    f"the frame ({width}×{height}).",
                    "Draw the box within the frame.",
                )
            if box.x1 <= box.x0 or box.y1 <= box.y0:
                raise ConfigError(
                    f"The box ({box.x0:g}, {box.y0:g}, {box.x1:g}, {box.y1:g}) has no area.",
                    "Give x0 < x1 and y0 < y1.",
                )


def frame_embedding(encoded: EncodedVideo, frame: int) -> torch.Tensor:
    """(1, C, e, e) SAM embedding of ``frame`` (kept, or recomputed beyond the memory budget).

    Raises:
        UserInputError: the video was encoded for propagation and ``frame`` is not a keyframe.
    """
    try:
        index = encoded.sam_index(frame)
    except ValueError:
        raise UserInputError(
            f"Frame {frame} has no SAM embedding: this video was encoded for propagation "
            f"(keyframes {', '.join(map(str, encoded.sam_frames or ()))}).",
            "Click on a keyframe, or ask about the video without --propagate.",
        ) from None
    return encoded.sam.get(slice(index, index + 1))


@torch.inference_mode()
def prompted_mask(
    model: VideoLISAModel,
    encoded: EncodedVideo,
    prompt: FramePrompt,
    existing: np.ndarray | None = None,
) -> np.ndarray:
    """The (H, W) bool mask of ``prompt``: ``existing`` (a track's mask on that frame, if it is
    corrected) with each positive click's and the box's region added and each negative click's
    region taken away."""
    height, width = encoded.original_hw
    embedding = frame_embedding(encoded, prompt.frame)
    mask = np.zeros((height, width), bool) if existing is None else existing.copy()
    for click in prompt.clicks:
        if click.positive:
            mask |= _under(_region(model, encoded, embedding, [click], None), click)
    if prompt.box is not None:
        box = prompt.box
        centre = Click((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        inside = np.zeros((height, width), bool)
        inside[int(box.y0) : int(np.ceil(box.y1)), int(box.x0) : int(np.ceil(box.x1))] = True
        mask |= _region(model, encoded, embedding, [centre], box) & inside
    for click in prompt.clicks:
        if not click.positive:
            region = _region(model, encoded, embedding, [Click(click.x, click.y)], None)
            mask &= ~_under(region | _under(mask, click), click)
    return mask


def _under(region: np.ndarray, click: Click) -> np.ndarray:
    """The connected part of (H, W) bool ``region`` under ``click`` (4-neighbours; the part
    nearest to it where the click misses ``region``): the object pointed at, not everything SAM
    lit."""
    x, y = int(click.x), int(click.y)
    if not region.any():
        return region
    if not region[y, x]:
        lit = np.argwhere(region)  # (n, 2) rows and columns
        y, x = lit[((lit - (y, x)) ** 2).sum(axis=1).argmin()]
    image = Image.fromarray(region.astype(np.uint8)).copy()  # a writable image
    ImageDraw.floodfill(image, (int(x), int(y)), 2)
    return np.asarray(image) == 2


def _region(
    model: VideoLISAModel,
    encoded: EncodedVideo,
    embedding: torch.Tensor,
    clicks: Sequence[Click],
    box: Box | None,
) -> np.ndarray:
    """SAM's (H, W) bool mask for ``clicks`` (and ``box``) on one frame."""
    height, width = encoded.original_hw
    device = embedding.device
    scale = torch.tensor(
        [encoded.resized_hw[1] / width, encoded.resized_hw[0] / height], device=device
    )
    points = torch.tensor([[c.x + 0.5, c.y + 0.5] for c in clicks], device=device) * scale
    labels = torch.tensor([[1.0 if c.positive else 0.0 for c in clicks]], device=device)
    boxes = None
    if box is not None:
        boxes = torch.tensor([[box.x0, box.y0, box.x1, box.y1]], device=device) * scale.repeat(2)
    sam = model.sam
    dtype = sam.mask_decoder.iou_token.weight.dtype
    sparse, dense = sam.prompt_encoder(points=(points[None], labels), boxes=boxes, masks=None)
    low_res, _ = sam.mask_decoder(
        image_embeddings=embedding.to(dtype),
        image_pe=sam.prompt_encoder.get_dense_pe().to(dtype),
        sparse_prompt_embeddings=sparse.to(dtype),
        dense_prompt_embeddings=dense.to(dtype),
        multimask_output=False,
    )
    logits = model.upscale_masks(low_res, encoded.resized_hw, encoded.original_hw)
    return (logits[0] > 0).cpu().numpy()


def middle_click(mask: np.ndarray) -> Click | None:
    """A click on ``mask``'s pixel nearest to its centre of mass (None for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    nearest = int(((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2).argmin())
    return Click(float(xs[nearest]), float(ys[nearest]))


def carried_masks(
    model: VideoLISAModel, encoded: EncodedVideo, keyframes: Mapping[int, np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, (H, W) bool mask) for every frame in order: the ``keyframes``' masks, and on the
    frames between them SAM's mask for a click at the middle of the neighbouring frame's mask,
    carried outwards from the nearest keyframe (empty once a mask vanishes). Frames carried
    backwards are held packed (a bit a pixel) until their turn."""
    frames = sorted(keyframes)
    height, width = encoded.original_hw
    bounds = [0, *((a + b + 1) // 2 for a, b in itertools.pairwise(frames))]
    bounds.append(encoded.num_frames)
    for number, key in enumerate(frames):
        start, stop = bounds[number], bounds[number + 1]
        backwards = []
        mask = keyframes[key]
        for frame in range(key - 1, start - 1, -1):
            mask = _carry(model, encoded, frame, mask)
            backwards.append(np.packbits(mask))
        for offset, packed in enumerate(reversed(backwards)):
            bits = np.unpackbits(packed, count=height * width).astype(bool)
            yield start + offset, bits.reshape(height, width)
        mask = keyframes[key]
        yield key, mask
        for frame in range(key + 1, stop):
            mask = _carry(model, encoded, frame, mask)
            yield frame, mask


def _carry(model: VideoLISAModel, encoded: EncodedVideo, frame: int, previous: np.ndarray):
    click = middle_click(previous)
    if click is None:
        return np.zeros_like(previous)
    return prompted_mask(model, encoded, FramePrompt(frame, (click,)))
