"""The public inference API: load a checkpoint, encode a video once, answer, decode tracks.

pipeline = VideoLISAPipeline.from_pretrained("ZechenBai/VideoLISA-3.8B")
encoded = pipeline.encode(frames, EncodeSettings(num_sparse=32, num_dense=4))
answer = pipeline.answer(encoded, [], "Where is the cat?", settings=GenerationSettings())
masks = pipeline.track_masks(encoded, answer.track_embeddings)   # (K, T, H, W) bool
clicked = pipeline.pointed_masks(encoded, frames, [FramePrompt(10, (Click(120, 80),))])

Each long call has a generator form (:mod:`videolisa.inference.steps`) that does its work in
bounded steps and stops when closed: ``encode_steps`` (progress), ``answer_steps`` (text deltas)
and ``mask_steps`` (masks of every track, a chunk of frames at a time, so memory never holds
tracks × frames × H × W).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from videolisa.errors import PromptError, UserInputError
from videolisa.inference.corrections import Correction, corrected_masks, track_keyframes
from videolisa.inference.encoded_video import EncodedVideo, EncodeSettings, encode_video_steps
from videolisa.inference.generation import (
    GenerationSettings,
    RawAnswer,
    forced_answer_states,
    generate_steps,
)
from videolisa.inference.preprocess import FramePreprocessor
from videolisa.inference.steps import ProgressCallback, StepProgress, drain, progress_to
from videolisa.inference.trackers import Tracker, TrackingSettings
from videolisa.inference.visual_prompts import FramePrompt
from videolisa.modeling.chat_template import ChatTemplate, Message
from videolisa.modeling.checkpoint import LoadedCheckpoint, load_model
from videolisa.modeling.device import resolve_device, resolve_dtype
from videolisa.modeling.quantization import Quantization, quantize_llm
from videolisa.modeling.tokenizer import TRACK_CONCEPT
from videolisa.sampling import FrameSampling

logger = logging.getLogger(__name__)

MASK_CHUNK_BYTES = 64 * 2**20  # largest (K, t, H, W) bool mask chunk mask_steps yields


@dataclass
class Answer:
    """An assistant answer; ``text`` writes each track token as ``<TRK>``.

    ``track_limit_hit``: the answer asked for more tracks than allowed; it was cut before the
    first track token beyond the limit (its text then ends with "…").
    """

    text: str
    token_ids: list[int]
    track_embeddings: torch.Tensor  # (K, out_dim) SAM prompt embeddings, one per <TRK>
    track_limit_hit: bool = False

    @property
    def num_tracks(self) -> int:
        return int(self.track_embeddings.shape[0])


@dataclass(frozen=True)
class MaskChunk:
    """Masks of every track on the frames ``frames`` (a contiguous window of the video)."""

    frames: slice
    masks: np.ndarray  # (K, t, H, W) bool at the frames' original size


class VideoLISAPipeline:
    """A loaded VideoLISA model with its tokenizer, chat template and preprocessing."""

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        template: ChatTemplate,
        device: torch.device,
        description: str = "",
        precision: str = "",
    ) -> None:
        self.model = checkpoint.model
        self.tokenizer = checkpoint.tokenizer
        self.folder = checkpoint.folder
        self.template = template
        self.device = device
        self.description = description or str(checkpoint.folder)
        # e.g. "float32" or "bfloat16, 4bit LLM"
        self.precision = precision or str(self.model.llm.dtype).removeprefix("torch.")
        self.preprocessor = FramePreprocessor(
            checkpoint.vision_tower_folder, self.model.config.sam.img_size
        )
        self.stop_ids = {self.tokenizer.token_id(t) for t in template.stop}

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        vision_tower: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        quantization: Quantization | None = None,
        template: str | None = None,
        attn_implementation: str = "sdpa",
    ) -> VideoLISAPipeline:
        """Load ``model`` (hub id or folder) on ``device`` in ``dtype``; with ``quantization``
        the LLM's linear layers are 4- or 8-bit. ``template`` names the chat template (default:
        the one the checkpoint records, else the published ``phi3_instruct``)."""
        target = resolve_device(device)
        compute_dtype = resolve_dtype(dtype, target)
        checkpoint = load_model(model, vision_tower, compute_dtype, attn_implementation)
        if quantization:
            count = quantize_llm(checkpoint.model.llm.model, quantization, compute_dtype, target)
            logger.info("quantised %d LLM linear layers to %s", count, quantization)
        checkpoint.model.to(target)
        mode = f", {quantization} LLM" if quantization else ""
        precision = f"{str(compute_dtype).removeprefix('torch.')}{mode}"
        description = f"{model} ({precision} on {target})"
        template = template or checkpoint.model.config.chat_template
        return cls(checkpoint, ChatTemplate.load(template), target, description, precision)

    @property
    def context_length(self) -> int:
        return int(self.model.llm.config.max_position_embeddings)

    @property
    def tokens_per_dense_frame(self) -> int:
        """LLM positions a dense frame adds to its pooled token: CLIP's patches (576 for
        ViT-L/14 at 336 px)."""
        vision = self.model.vision_tower.config
        return (vision.image_size // vision.patch_size) ** 2

    # ------------------------------------------------------------------------- video
    @property
    def default_frames(self) -> tuple[int, int]:
        """(sparse, dense) frame counts the model was trained with: 32 and 4 for the published
        checkpoint; models this project trains record theirs in config.json."""
        return self.model.config.default_frames

    def encode_steps(
        self, frames: np.ndarray, settings: EncodeSettings | None = None
    ) -> Generator[StepProgress, None, EncodedVideo]:
        """Encode (T, H, W, 3) uint8 RGB frames once for any number of questions, yielding
        progress; frame counts left out of ``settings`` are the model's :attr:`default_frames`.

        SAM embeddings (T × C × e × e; 4 MB per frame for ViT-H in float32) are all kept while
        they fit in ``settings.sam_memory_budget_bytes`` (None: no limit); beyond it the rest are
        recomputed chunk by chunk whenever masks are decoded, with the same results."""
        settings = settings or EncodeSettings()
        num_sparse, num_dense = settings.frame_counts(self.default_frames)
        sampling = FrameSampling.for_video(len(frames), num_sparse, num_dense)
        return (
            yield from encode_video_steps(self.model, self.preprocessor, frames, sampling, settings)
        )

    def encode(
        self,
        frames: np.ndarray,
        settings: EncodeSettings | None = None,
        progress: ProgressCallback | None = None,
    ) -> EncodedVideo:
        """:meth:`encode_steps` run to the end, reporting ``(stage, done, total)``."""
        return drain(self.encode_steps(frames, settings), progress_to(progress))

    # ------------------------------------------------------------------------ answers
    def prompt_ids(self, messages: Sequence[Message], add_generation_prompt: bool) -> list[int]:
        """Token ids of a conversation (the video goes with the first user message)."""
        parts = self.template.render(messages, self.tokenizer.track_token, add_generation_prompt)
        return self.tokenizer.encode(parts)

    def sequence_length(self, input_ids: Sequence[int], encoded: EncodedVideo) -> int:
        """LLM positions taken by ``input_ids`` with the video spliced in."""
        return len(input_ids) - 1 + len(encoded.video_tokens)

    def prompt_positions(
        self,
        encoded: EncodedVideo,
        messages: Sequence[Message],
        forced_answer: str | None = None,
        max_new_tokens: int = 0,
    ) -> int:
        """LLM positions an answer to ``messages`` needs: the prompt with the video spliced in,
        then ``forced_answer``, or room for ``max_new_tokens`` generated tokens."""
        if forced_answer is not None:
            ids = self.prompt_ids([*messages, Message("assistant", forced_answer)], False)
            return self.sequence_length(ids, encoded)
        ids = self.prompt_ids(messages, add_generation_prompt=True)
        return self.sequence_length(ids, encoded) + max_new_tokens

    def answer_steps(
        self,
        encoded: EncodedVideo,
        history: Sequence[Message],
        question: str,
        forced_answer: str | None = None,
        settings: GenerationSettings | None = None,
    ) -> Generator[str, None, Answer]:
        """Answer ``question`` after ``history``: ``forced_answer`` (one forward pass, the
        published evaluation mode) or generation with ``settings`` (one token per step).

        Yields the answer's text as it grows (deltas; a forced answer in one piece) and returns
        the :class:`Answer`. With ``settings.max_tracks``, the answer stops before its first
        track token beyond the limit (generation stops there; a forced answer is cut there)."""
        if not question.strip():
            raise PromptError("The question is empty.", "Type a question about the video.")
        messages = [*history, Message("user", question)]
        settings = settings or GenerationSettings()
        reserve = 0 if forced_answer is not None else settings.max_new_tokens
        self._check_fits(encoded, messages, forced_answer, reserve)
        if forced_answer is not None:
            prompt = self.prompt_ids(messages, add_generation_prompt=True)
            full = self.prompt_ids([*messages, Message("assistant", forced_answer)], False)
            # The answer's ids start after the prompt; the full prompt ends with <|end|>.
            raw = forced_answer_states(
                self.model, full, len(prompt), encoded.llm_prefix, self.tokenizer.track_token_id
            )
            raw.token_ids = [t for t in raw.token_ids if t not in self.stop_ids]
            raw = raw.limit_tracks(settings.max_tracks, self.tokenizer.track_token_id)
            answer = self._finish(raw)
            yield answer.text
            return answer
        prompt = self.prompt_ids(messages, add_generation_prompt=True)
        streamer = _TextStreamer(self.tokenizer.decode)
        steps = generate_steps(
            self.model,
            prompt,
            encoded.llm_prefix,
            self.tokenizer.track_token_id,
            self.stop_ids,
            settings,
        )
        while True:
            try:
                token = next(steps)
            except StopIteration as stop:
                return self._finish(stop.value)
            delta = streamer.push(token)
            if delta:
                yield delta

    def answer(
        self,
        encoded: EncodedVideo,
        history: Sequence[Message],
        question: str,
        forced_answer: str | None = None,
        settings: GenerationSettings | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """:meth:`answer_steps` run to the end, handing the text deltas to ``on_text``."""
        steps = self.answer_steps(encoded, history, question, forced_answer, settings)
        return drain(steps, on_text)

    def _finish(self, raw: RawAnswer) -> Answer:
        with torch.inference_mode():
            embeddings = self.model.track_embeddings(raw.track_states)
        text = self.tokenizer.decode(raw.token_ids, track_text=TRACK_CONCEPT).strip()
        if raw.track_limit_hit:
            text += " …"
        return Answer(text, raw.token_ids, embeddings, raw.track_limit_hit)

    def _check_fits(
        self,
        encoded: EncodedVideo,
        messages: Sequence[Message],
        forced_answer: str | None,
        max_new_tokens: int,
    ) -> None:
        needed = self.prompt_positions(encoded, messages, forced_answer, max_new_tokens)
        reserve = 0 if forced_answer is not None else max_new_tokens
        if needed > self.context_length:
            video = len(encoded.video_tokens)
            raise PromptError(
                f"The prompt needs {needed} positions ({video} for the video, "
                f"{needed - video - reserve} for the text, {reserve} for the answer) but the "
                f"model's context holds {self.context_length}.",
                "Use fewer frames (--frames-dense / --frames-sparse), a shorter question, or "
                "fewer new tokens.",
            )

    # -------------------------------------------------------------------------- masks
    @torch.inference_mode()
    def mask_logits(
        self, encoded: EncodedVideo, sam_embeddings: torch.Tensor, track_embedding: torch.Tensor
    ) -> torch.Tensor:
        """(t, C, e, e) embeddings of frames of ``encoded`` and one (out_dim,) prompt ->
        (t, H, W) logits at the original size, in one decoder call."""
        low_res, _ = self.model.decode_masks(sam_embeddings, track_embedding)
        return self.model.upscale_masks(low_res, encoded.resized_hw, encoded.original_hw)

    @torch.inference_mode()  # torch enters it around every step of a generator
    def mask_steps(
        self,
        encoded: EncodedVideo,
        track_embeddings: torch.Tensor,
        decode_batch: int = 16,
        max_chunk_bytes: int = MASK_CHUNK_BYTES,
    ) -> Iterator[MaskChunk]:
        """Binary masks (logit > 0) of every track, a chunk of frames at a time, in frame order.

        Streams over the video's SAM embeddings (recomputing those beyond the memory budget once
        per chunk for all tracks). A chunk is at most ``decode_batch`` decoded masks (frames ×
        tracks, at least one frame, so each step takes about the same time whatever the number
        of tracks) and at most ``max_chunk_bytes`` of masks, so memory stays bounded by the
        chunk, never tracks × frames × H × W. ``track_embeddings`` is (K, out_dim)."""
        if encoded.sam_frames is not None:
            raise UserInputError(
                "This video was encoded for propagation: SAM embeddings exist for its "
                "keyframes only.",
                "Propagate its keyframe masks with a tracker, or encode it again without "
                "propagation.",
            )
        height, width = encoded.original_hw
        num_tracks = len(track_embeddings)
        if num_tracks == 0:
            return
        frame_bytes = num_tracks * height * width
        batch = max(1, min(decode_batch // num_tracks, max_chunk_bytes // frame_bytes))
        for window, embeddings in encoded.sam.chunks():
            for begin in range(0, len(embeddings), batch):
                part = embeddings[begin : begin + batch]
                masks = np.empty((num_tracks, len(part), height, width), dtype=bool)
                for track, embedding in enumerate(track_embeddings):
                    masks[track] = (self.mask_logits(encoded, part, embedding) > 0).cpu()
                start = window.start + begin
                yield MaskChunk(slice(start, start + len(part)), masks)
            del embeddings

    @torch.inference_mode()
    def keyframe_masks(
        self, encoded: EncodedVideo, track_embeddings: torch.Tensor, keyframes: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """One-Token-Seg-All masks of the K tracks on each of ``keyframes``: frame -> (K, H, W)
        bool (a tracker's inputs)."""
        masks = {}
        for frame in keyframes:
            index = encoded.sam_index(frame)
            embeddings = encoded.sam.get(slice(index, index + 1))
            masks[frame] = np.stack(
                [
                    (self.mask_logits(encoded, embeddings, track)[0] > 0).cpu().numpy()
                    for track in track_embeddings
                ]
            )
        return masks

    @torch.inference_mode()
    def best_frames(
        self, encoded: EncodedVideo, track_embeddings: torch.Tensor, count: int
    ) -> list[int]:
        """The ``count`` frames whose masks SAM predicts best (highest IoU prediction, averaged
        over the tracks), in frame order."""
        scores = np.zeros(encoded.num_frames)
        for window, embeddings in encoded.sam.chunks():
            for track in track_embeddings:
                _, iou = self.model.decode_masks(embeddings, track)
                scores[window] += iou[:, 0].float().cpu().numpy() / len(track_embeddings)
        return sorted(np.argsort(-scores, kind="stable")[:count].tolist())

    def masks(
        self,
        encoded: EncodedVideo,
        frames: np.ndarray,
        track_embeddings: torch.Tensor,
        tracker: Tracker | None = None,
        tracking: TrackingSettings | None = None,
    ) -> Iterator[MaskChunk]:
        """Masks of every track on every frame, a chunk of frames at a time, in frame order: the
        one way every caller makes masks.

        Without a tracker, One-Token-Seg-All (:meth:`mask_steps`). With ``tracker`` and its
        ``tracking`` settings, the keyframes' One-Token-Seg-All masks carried over the whole
        video (keyframes keep theirs); the tracker's image features of ``frames`` (the encoded
        video's (T, H, W, 3) uint8) are kept with ``encoded`` within
        ``tracking.feature_budget_bytes``, so a follow-up question pays only for tracking.
        ``track_embeddings`` is (K, out_dim)."""
        if tracker is None or tracking is None:
            yield from self.mask_steps(encoded, track_embeddings)
            return
        if len(track_embeddings) == 0:
            return
        if tracking.keyframes == "dense":
            keyframes = sorted(set(encoded.sampling.dense_frames))
        else:
            keyframes = self.best_frames(encoded, track_embeddings, tracking.keyframes)
        keyframe_masks = self.keyframe_masks(encoded, track_embeddings, keyframes)
        features = encoded.tracker_features.store(tracker.checkpoint, tracking.feature_budget_bytes)
        for chunk in tracker.propagate(frames, keyframe_masks, features):
            yield MaskChunk(chunk.frames, chunk.masks)

    def pointed_masks(
        self,
        encoded: EncodedVideo,
        frames: np.ndarray,
        prompts: Sequence[FramePrompt],
        before: Callable[[int], np.ndarray | None] | None = None,
        tracker: Tracker | None = None,
        tracking: TrackingSettings | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(frame, (H, W) bool mask) of the object pointed at by ``prompts`` (clicks and boxes,
        in order) on every frame of (T, H, W, 3) uint8 ``frames``, in frame order: each prompt
        is answered by the model's SAM decoder on its frame, on top of ``before(frame)`` (a
        track's mask there to correct; default none: a new object), and the prompted frames'
        masks are carried over the video by ``tracker`` with its ``tracking`` settings, or else
        by the model's SAM. Neither the LLM nor an image encoder runs.

        Raises:
            ConfigError: a frame, click or box outside the video, or a box of zero area.
        """
        height, width = encoded.original_hw
        for prompt in prompts:
            prompt.check(encoded.num_frames, height, width)
        corrections = [Correction(0, prompt) for prompt in prompts]
        keyframes = track_keyframes(
            self.model, encoded, corrections, 0, before or (lambda _frame: None)
        )
        yield from corrected_masks(self.model, encoded, frames, keyframes, tracker, tracking)

    def track_masks(
        self,
        encoded: EncodedVideo,
        track_embeddings: torch.Tensor,
        decode_batch: int = 16,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Binary masks (K, T, H, W) of every track on every frame, from :meth:`mask_steps`
        (for few tracks on short videos; stream the chunks otherwise)."""
        height, width = encoded.original_hw
        masks = np.zeros((len(track_embeddings), encoded.num_frames, height, width), dtype=bool)
        for chunk in self.mask_steps(encoded, track_embeddings, decode_batch):
            masks[:, chunk.frames] = chunk.masks
            if progress:
                progress("mask_decode", chunk.frames.stop, encoded.num_frames)
        return masks


class _TextStreamer:
    """Turns generated ids into text deltas; holds back an incomplete UTF-8 character."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self._ids: list[int] = []
        self._sent = ""

    def push(self, token_id: int) -> str:
        """The text this token adds (empty while a character is incomplete)."""
        self._ids.append(token_id)
        text = self._decode(self._ids).lstrip()
        if text.endswith("\ufffd") or not text.startswith(self._sent):
            return ""
        delta, self._sent = text[len(self._sent) :], text
        return delta
