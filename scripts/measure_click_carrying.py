"""How well a click on one frame carries to the others without a tracker, with the bundled model
(or ``--model``) on held-out toy-world videos: J of the click on its own frame, and J over all
frames for three ways of carrying it (docs/clicks.md):

- the clicked frame alone (every other frame empty);
- a prompt embedding fitted so that SAM's decoder reproduces the clicked frame's mask (the
  space ``<TRK>`` lands in), decoded on every frame: One-Token-Seg-All from a click;
- the click carried frame to frame: a click at the middle of the last mask, on the next frame
  (what the app and ``segment --click`` ship:
  :func:`videolisa.inference.visual_prompts.carried_masks`).

    python -m scripts.measure_click_carrying --videos 30
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from videolisa.defaults import DEFAULT_MODEL
from videolisa.evaluation.metrics import region_similarity
from videolisa.inference.encoded_video import EncodedVideo
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.inference.visual_prompts import (
    FramePrompt,
    carried_masks,
    frame_embedding,
    middle_click,
    prompted_mask,
)
from videolisa.toyworld import test_sample

FIT_STEPS, FIT_LR = 60, 0.05


def fitted_embedding(pipeline: VideoLISAPipeline, encoded: EncodedVideo, frame: int, mask):
    """An (out_dim,) prompt for which SAM's decoder gives ``mask`` on ``frame``: Adam on BCE +
    Dice of the decoder's low-resolution logits (the mask resized as SAM resizes the frame)."""
    model = pipeline.model
    embedding = frame_embedding(encoded, frame)
    side = embedding.shape[-1] * 4
    height, width = (max(1, round(s / 4)) for s in encoded.resized_hw)
    image = torch.from_numpy(mask.astype(np.float32))[None, None]
    target = torch.zeros((1, side, side))
    target[0, :height, :width] = torch.nn.functional.interpolate(
        image, (height, width), mode="area"
    )
    prompt = torch.zeros(model.config.out_dim, requires_grad=True)
    optimiser = torch.optim.Adam([prompt], lr=FIT_LR)
    for _ in range(FIT_STEPS):
        logits = model.decode_masks(embedding, prompt)[0][:, 0].float()
        probabilities = logits.sigmoid()
        dice = 1 - (2 * (probabilities * target).sum() + 1) / (
            probabilities.sum() + target.sum() + 1
        )
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return prompt.detach()


def mean_j(masks: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([region_similarity(m, t) for m, t in zip(masks, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--videos", type=int, default=30, help="held-out attribute videos")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipeline = VideoLISAPipeline.from_pretrained(args.model, device="cpu")
    scores: dict[str, list[float]] = {"click": [], "alone": [], "fitted": [], "carried": []}
    seconds: dict[str, list[float]] = {"fitted": [], "carried": []}
    for index in range(args.videos):
        sample = test_sample("attribute", index)
        encoded = pipeline.encode(sample.frames)
        frame = len(sample.frames) // 2
        truth = sample.masks[index % len(sample.masks)]  # each video: another of its objects
        if not truth[frame].any():
            continue
        mask = prompted_mask(
            pipeline.model, encoded, FramePrompt(frame, (middle_click(truth[frame]),))
        )
        scores["click"].append(region_similarity(mask, truth[frame]))
        alone = np.zeros_like(truth)
        alone[frame] = mask
        scores["alone"].append(mean_j(alone, truth))
        start = time.perf_counter()
        with torch.enable_grad():
            prompt = fitted_embedding(pipeline, encoded, frame, mask)
        fitted = pipeline.track_masks(encoded, prompt[None])[0]
        fitted[frame] = mask
        seconds["fitted"].append(time.perf_counter() - start)
        scores["fitted"].append(mean_j(fitted, truth))
        start = time.perf_counter()
        carried = np.stack([m for _, m in carried_masks(pipeline.model, encoded, {frame: mask})])
        seconds["carried"].append(time.perf_counter() - start)
        scores["carried"].append(mean_j(carried, truth))
    print(
        f"{len(scores['click'])} held-out videos: click on its frame J "
        f"{np.mean(scores['click']):.3f}; "
        f"over all frames: clicked frame alone {np.mean(scores['alone']):.3f}, fitted embedding "
        f"{np.mean(scores['fitted']):.3f} ({np.mean(seconds['fitted']):.2f} s), carried click "
        f"{np.mean(scores['carried']):.3f} ({np.mean(seconds['carried']):.2f} s)"
    )


if __name__ == "__main__":
    main()
