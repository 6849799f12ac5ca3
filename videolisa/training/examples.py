"""One turn of a conversation about a video as a training example, and its losses.

The ids come from the same template rendering and tokenizer as inference
(:meth:`VideoLISAPipeline.prompt_ids`): the example is the conversation up to and including the
answer of one turn, earlier turns as history, and only that last answer (with its end-of-turn
token) is labelled. Each ``<TRK>`` of the answer is decoded, as at inference, from the
last-layer hidden state of the position before it, against the dense frames; the mask losses
compare those masks with the track objects' masks on the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from videolisa.inference.generation import llm_position
from videolisa.inference.preprocess import FramePreprocessor
from videolisa.modeling.chat_template import Message
from videolisa.modeling.tokenizer import IMAGE_PLACEHOLDER_ID, VideoLISATokenizer
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.sampling import FrameSampling
from videolisa.toyworld import Sample
from videolisa.training.losses import LossWeights, dice_loss, sigmoid_bce_loss

IGNORE_INDEX = -100  # label of positions that carry no loss (Hugging Face's convention)


class PromptBuilder(Protocol):
    """What :func:`build_example` needs of a :class:`VideoLISAPipeline`."""

    tokenizer: VideoLISATokenizer

    def prompt_ids(self, messages: Sequence[Message], add_generation_prompt: bool) -> list[int]:
        """Token ids of a conversation (the video goes with the first user message)."""
        ...


@dataclass
class TrainingExample:
    """One turn to learn: ids, labels, where its tracks are and the masks they should give."""

    input_ids: list[int]  # (N,) with one IMAGE_PLACEHOLDER_ID
    labels: list[int]  # (N,) IGNORE_INDEX except on the last answer and its end-of-turn token
    answer_start: int  # index in input_ids of the last answer's first token
    track_positions: list[int]  # (K,) indices in input_ids of the last answer's track tokens
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    sampling: FrameSampling
    target_masks: np.ndarray  # (K, T, H, W) bool, the masks of the K tracks on every frame

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.input_ids):
            raise ValueError(f"{len(self.labels)} labels for {len(self.input_ids)} ids")
        if self.input_ids.count(IMAGE_PLACEHOLDER_ID) != 1:
            raise ValueError("expected exactly one image placeholder in the ids")
        expected = (len(self.track_positions), *self.frames.shape[:3])
        if self.target_masks.shape != expected:
            raise ValueError(f"target masks {self.target_masks.shape}, expected {expected}")


def build_example(
    pipeline: PromptBuilder,
    sample: Sample,
    turn_index: int,
    num_sparse: int,
    num_dense: int,
) -> TrainingExample:
    """Turn ``turn_index`` of ``sample``'s conversation, earlier turns as history.

    Raises :class:`ValueError` if the answer's ids do not start right after the prompt rendered
    with the generation prompt (then training would not match what inference sees), or if the
    answer does not give one track token per track object.
    """
    if not 0 <= turn_index < len(sample.turns):
        raise ValueError(f"turn {turn_index} of a {len(sample.turns)}-turn conversation")
    messages: list[Message] = []
    for turn in sample.turns[:turn_index]:
        messages += [Message("user", turn.question), Message("assistant", turn.answer)]
    turn = sample.turns[turn_index]
    messages.append(Message("user", turn.question))
    prompt = pipeline.prompt_ids(messages, add_generation_prompt=True)
    full = pipeline.prompt_ids([*messages, Message("assistant", turn.answer)], False)
    if full[: len(prompt)] != prompt:
        raise ValueError(
            f"the answer {turn.answer!r} does not tokenise as a continuation of its prompt"
        )
    track_id = pipeline.tokenizer.track_token_id
    tracks = [i for i in range(len(prompt), len(full)) if full[i] == track_id]
    if len(tracks) != len(turn.track_objects):
        raise ValueError(
            f"the answer {turn.answer!r} gives {len(tracks)} track tokens for "
            f"{len(turn.track_objects)} track objects"
        )
    return TrainingExample(
        input_ids=full,
        labels=[IGNORE_INDEX] * len(prompt) + full[len(prompt) :],
        answer_start=len(prompt),
        track_positions=tracks,
        frames=sample.frames,
        sampling=FrameSampling.for_video(len(sample.frames), num_sparse, num_dense),
        target_masks=sample.masks[list(turn.track_objects)],
    )


def llm_labels(example: TrainingExample, num_video_tokens: int) -> torch.Tensor:
    """Next-token targets (L,) over the L = N - 1 + ``num_video_tokens`` LLM positions.

    The placeholder becomes ``num_video_tokens`` positions of IGNORE_INDEX, then the labels are
    shifted as Hugging Face's causal-LM loss does: entry ``i`` is the label of position
    ``i + 1``, the one the logits at ``i`` predict; the last entry is IGNORE_INDEX.
    """
    cut = example.input_ids.index(IMAGE_PLACEHOLDER_ID)
    expanded = [
        *example.labels[:cut],
        *[IGNORE_INDEX] * num_video_tokens,
        *example.labels[cut + 1 :],
    ]
    return torch.tensor([*expanded[1:], IGNORE_INDEX], dtype=torch.long)


@dataclass
class VisualFeatures:
    """What the losses need of an example's video; differentiable wherever the encoders'
    parameters require gradients (frozen encoders record nothing)."""

    sampling: FrameSampling
    video_tokens: torch.Tensor  # (S + D * L, H) Sparse-Dense tokens
    mask_frames: tuple[int, ...]  # (M,) the video frames SAM encoded: dense frames, or some
    sam_embeddings: torch.Tensor  # (M, C, e, e) their SAM embeddings
    resized_hw: tuple[int, int]
    original_hw: tuple[int, int]


def visual_features(
    model: VideoLISAModel,
    preprocessor: FramePreprocessor,
    example: TrainingExample,
    mask_positions: Sequence[int] | None = None,
) -> VisualFeatures:
    """CLIP on the sparse frames and SAM on the dense frames only: the mask losses look at
    nothing else, so the other frames are never encoded during training. ``mask_positions``
    (indices into the dense frames, default all) limits SAM and so the mask losses to some."""
    device = model.device
    sampling = example.sampling
    pixels = preprocessor.clip_pixels(example.frames, sampling.sparse).to(device)
    video_tokens = model.video_tokens(model.clip_patch_features(pixels), sampling.dense)
    dense = sampling.dense_frames
    mask_frames = tuple(dense[i] for i in mask_positions) if mask_positions else tuple(dense)
    resized = preprocessor.sam_resized(example.frames[list(mask_frames)])
    images = model.sam.preprocess(resized.to(device, torch.float32))
    return VisualFeatures(
        sampling=sampling,
        video_tokens=video_tokens,
        mask_frames=mask_frames,
        sam_embeddings=model.sam_image_embeddings(images),
        resized_hw=(int(resized.shape[2]), int(resized.shape[3])),
        original_hw=(int(example.frames.shape[1]), int(example.frames.shape[2])),
    )


@dataclass
class ExampleOutputs:
    """The losses of one example and the LLM pass they came from (for auxiliary losses)."""

    ce: torch.Tensor  # () next-token cross-entropy over the labelled tokens
    bce: torch.Tensor  # () mask BCE over the K * M (track, mask frame) masks; 0 without tracks
    dice: torch.Tensor  # () mask Dice, likewise
    total: torch.Tensor  # () their weighted sum
    hidden_states: tuple[torch.Tensor, ...]  # (L, H) per LLM layer, the input embeddings first
    video_start: int  # LLM position of the first video token
    track_states: torch.Tensor  # (K, H) last-layer states that predict each <TRK>
    embeddings: torch.Tensor  # (K, out_dim) the SAM prompts the <TRK> head makes of them
    mask_logits: torch.Tensor | None  # (K, M, H, W) the tracks' masks on the M mask frames

    def losses(self) -> dict[str, torch.Tensor]:
        """The scalar losses by name: ``ce``, ``bce``, ``dice``, ``total``."""
        return {"ce": self.ce, "bce": self.bce, "dice": self.dice, "total": self.total}


def example_losses(
    model: VideoLISAModel,
    example: TrainingExample,
    features: VisualFeatures,
    weights: LossWeights,
) -> ExampleOutputs:
    """The losses of one example: ``ce``, ``bce``, ``dice`` and their weighted ``total``.

    ``ce`` is the next-token cross-entropy averaged over the labelled tokens. For each track,
    the hidden state before its token goes through the ``<TRK>`` head and the mask decoder
    against the SAM embeddings of the M mask frames (the dense frames, unless fewer were
    encoded); ``bce`` and ``dice`` average over the K * M (track, frame) masks at the frames'
    size, and are 0 for an answer without tracks.
    """
    if features.sampling != example.sampling:
        raise ValueError("the visual features are not the example's")
    device = model.device
    video_tokens = features.video_tokens
    ids = torch.tensor(example.input_ids, device=device)
    hidden = model.llm.model(
        inputs_embeds=model.embed_prompt(ids, video_tokens), output_hidden_states=True
    )
    states = hidden.last_hidden_state[0]  # (L, H)

    targets = llm_labels(example, len(video_tokens)).to(device)
    labelled = targets != IGNORE_INDEX
    logits = model.llm.lm_head(states[labelled]).float()
    ce = F.cross_entropy(logits, targets[labelled])

    positions = [
        llm_position(i, example.input_ids, len(video_tokens)) - 1 for i in example.track_positions
    ]
    track_states = states[positions]  # (K, H)
    embeddings = model.track_embeddings(track_states)  # (K, out_dim)
    mask_logits = None
    if example.track_positions:
        mask_logits = _mask_logits(model, features, embeddings)
        truth = torch.from_numpy(example.target_masks[:, list(features.mask_frames)]).to(device)
        flat, flat_truth = mask_logits.flatten(0, 1), truth.flatten(0, 1)
        bce, dice = sigmoid_bce_loss(flat, flat_truth), dice_loss(flat, flat_truth)
    else:
        bce = dice = ce.new_zeros(())
    return ExampleOutputs(
        ce=ce,
        bce=bce,
        dice=dice,
        total=weights.ce * ce + weights.bce * bce + weights.dice * dice,
        hidden_states=tuple(h[0] for h in hidden.hidden_states),
        video_start=example.input_ids.index(IMAGE_PLACEHOLDER_ID),
        track_states=track_states,
        embeddings=embeddings,
        mask_logits=mask_logits,
    )


def _mask_logits(
    model: VideoLISAModel, features: VisualFeatures, embeddings: torch.Tensor
) -> torch.Tensor:
    """(K, M, H, W) mask logits on the mask frames of K tracks from their (K, out_dim)
    prompts."""
    return torch.stack(
        [
            model.upscale_masks(
                model.decode_masks(features.sam_embeddings, embedding)[0],
                features.resized_hw,
                features.original_hw,
            )
            for embedding in embeddings
        ]
    )
