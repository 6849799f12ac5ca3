"""The public inference API: load a checkpoint, encode a video once, answer, decode tracks.

pipeline = VideoLISAPipeline.from_pretrained("ZechenBai/VideoLISA-3.8B")
encoded = pipeline.encode(frames, num_sparse=32, num_dense=4)
answer = pipeline.answer(encoded, [], "Where is the cat?", settings=GenerationSettings())
masks = pipeline.track_masks(encoded, answer.track_embeddings)   # (K, T, H, W) bool
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from videolisa.chat.template import ChatTemplate, Message
from videolisa.errors import PromptError
from videolisa.inference.encoded_video import EncodedVideo, ProgressCallback, encode_video
from videolisa.inference.generation import (
    GenerationSettings,
    RawAnswer,
    forced_answer_states,
    generate,
)
from videolisa.inference.preprocess import FramePreprocessor
from videolisa.modeling.checkpoint import LoadedCheckpoint, load_model
from videolisa.modeling.device import resolve_device, resolve_dtype
from videolisa.modeling.quantization import Quantization, quantize_llm
from videolisa.modeling.tokenizer import TRACK_CONCEPT
from videolisa.sampling import FrameSampling

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    """An assistant answer; ``text`` writes each track token as ``<TRK>``."""

    text: str
    token_ids: list[int]
    track_embeddings: torch.Tensor  # (K, out_dim) SAM prompt embeddings, one per <TRK>

    @property
    def num_tracks(self) -> int:
        return int(self.track_embeddings.shape[0])


class VideoLISAPipeline:
    """A loaded VideoLISA model with its tokenizer, chat template and preprocessing."""

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        template: ChatTemplate,
        device: torch.device,
        description: str = "",
    ) -> None:
        self.model = checkpoint.model
        self.tokenizer = checkpoint.tokenizer
        self.folder = checkpoint.folder
        self.template = template
        self.device = device
        self.description = description or str(checkpoint.folder)
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
        template: str = "phi3_instruct",
        attn_implementation: str = "sdpa",
    ) -> VideoLISAPipeline:
        """Load ``model`` (hub id or folder) on ``device`` in ``dtype``; with ``quantization``
        the LLM's linear layers are 4- or 8-bit."""
        target = resolve_device(device)
        compute_dtype = resolve_dtype(dtype, target)
        checkpoint = load_model(model, vision_tower, compute_dtype, attn_implementation)
        if quantization:
            count = quantize_llm(checkpoint.model.llm.model, quantization, compute_dtype, target)
            logger.info("quantised %d LLM linear layers to %s", count, quantization)
        checkpoint.model.to(target)
        mode = f", {quantization}" if quantization else ""
        description = f"{model} ({str(compute_dtype).removeprefix('torch.')}{mode} on {target})"
        return cls(checkpoint, ChatTemplate.load(template), target, description)

    @property
    def context_length(self) -> int:
        return int(self.model.llm.config.max_position_embeddings)

    # ------------------------------------------------------------------------- video
    @property
    def default_frames(self) -> tuple[int, int]:
        """(sparse, dense) frame counts the model was trained with: 32 and 4 for the published
        checkpoint; models this project trains record theirs in config.json."""
        return self.model.config.default_frames

    def encode(
        self,
        frames: np.ndarray,
        num_sparse: int | None = None,
        num_dense: int | None = None,
        sam_batch: int = 8,
        progress: ProgressCallback | None = None,
        sam_memory_budget_bytes: int | None = None,
    ) -> EncodedVideo:
        """Encode (T, H, W, 3) uint8 RGB frames once for any number of questions; frame counts
        left out are the model's :attr:`default_frames`.

        SAM embeddings (T × C × e × e; 4 MB per frame for ViT-H in float32) are all kept while
        they fit in ``sam_memory_budget_bytes`` (None: no limit); beyond it the rest are
        recomputed chunk by chunk whenever masks are decoded, with the same results."""
        num_sparse = num_sparse or self.default_frames[0]
        num_dense = num_dense or self.default_frames[1]
        sampling = FrameSampling.for_video(len(frames), num_sparse, num_dense)
        return encode_video(
            self.model,
            self.preprocessor,
            frames,
            sampling,
            sam_batch,
            progress,
            sam_memory_budget_bytes,
        )

    # ------------------------------------------------------------------------ answers
    def prompt_ids(self, messages: Sequence[Message], add_generation_prompt: bool) -> list[int]:
        """Token ids of a conversation (the video goes with the first user message)."""
        parts = self.template.render(messages, self.tokenizer.track_token, add_generation_prompt)
        return self.tokenizer.encode(parts)

    def sequence_length(self, input_ids: Sequence[int], encoded: EncodedVideo) -> int:
        """LLM positions taken by ``input_ids`` with the video spliced in."""
        return len(input_ids) - 1 + len(encoded.video_tokens)

    def answer(
        self,
        encoded: EncodedVideo,
        history: Sequence[Message],
        question: str,
        forced_answer: str | None = None,
        settings: GenerationSettings | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` after ``history``: ``forced_answer`` (one forward pass, the
        published evaluation mode) or generation with ``settings``, streaming text deltas to
        ``on_text``."""
        if not question.strip():
            raise PromptError("The question is empty.", "Type a question about the video.")
        messages = [*history, Message("user", question)]
        if forced_answer is not None:
            prompt = self.prompt_ids(messages, add_generation_prompt=True)
            full = self.prompt_ids([*messages, Message("assistant", forced_answer)], False)
            self._check_fits(full, encoded, 0)
            # The answer's ids start after the prompt; the full prompt ends with <|end|>.
            raw = forced_answer_states(
                self.model, full, len(prompt), encoded.video_tokens, self.tokenizer.track_token_id
            )
            raw.token_ids = [t for t in raw.token_ids if t not in self.stop_ids]
        else:
            settings = settings or GenerationSettings()
            prompt = self.prompt_ids(messages, add_generation_prompt=True)
            self._check_fits(prompt, encoded, settings.max_new_tokens)
            streamer = _TextStreamer(self.tokenizer.decode, on_text) if on_text else None
            raw = generate(
                self.model,
                prompt,
                encoded.video_tokens,
                self.tokenizer.track_token_id,
                self.stop_ids,
                settings,
                streamer.push if streamer else None,
            )
        return self._finish(raw)

    def _finish(self, raw: RawAnswer) -> Answer:
        with torch.inference_mode():
            embeddings = self.model.track_embeddings(raw.track_states)
        text = self.tokenizer.decode(raw.token_ids, track_text=TRACK_CONCEPT).strip()
        return Answer(text=text, token_ids=raw.token_ids, track_embeddings=embeddings)

    def _check_fits(self, input_ids: Sequence[int], encoded: EncodedVideo, reserve: int) -> None:
        needed = self.sequence_length(input_ids, encoded) + reserve
        if needed > self.context_length:
            raise PromptError(
                f"The prompt needs {needed} positions ({len(encoded.video_tokens)} for the video, "
                f"{len(input_ids) - 1} for the text, {reserve} for the answer) but the model's "
                f"context holds {self.context_length}.",
                "Use fewer frames (--frames-dense / --frames-sparse), a shorter question, or "
                "fewer new tokens.",
            )

    # -------------------------------------------------------------------------- masks
    @torch.inference_mode()
    def track_mask_logits(
        self, encoded: EncodedVideo, track_embedding: torch.Tensor, frames: slice
    ) -> torch.Tensor:
        """Mask logits (t, H, W) at the original size of the contiguous frames in ``frames``
        for one track's (out_dim,) embedding, decoded in one batched call."""
        return self.mask_logits(encoded, encoded.sam.get(frames), track_embedding)

    @torch.inference_mode()
    def mask_logits(
        self, encoded: EncodedVideo, sam_embeddings: torch.Tensor, track_embedding: torch.Tensor
    ) -> torch.Tensor:
        """(t, C, e, e) embeddings of frames of ``encoded`` and one (out_dim,) prompt ->
        (t, H, W) logits at the original size, in one decoder call."""
        low_res, _ = self.model.decode_masks(sam_embeddings, track_embedding)
        return self.model.upscale_masks(low_res, encoded.resized_hw, encoded.original_hw)

    @torch.inference_mode()
    def track_masks(
        self,
        encoded: EncodedVideo,
        track_embeddings: torch.Tensor,
        decode_batch: int = 16,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Binary masks (K, T, H, W) of every track on every frame (logit > 0).

        Streams over the video's SAM embeddings chunk by chunk (recomputing those beyond the
        memory budget once per chunk for all tracks) and decodes at most ``decode_batch``
        frames per call, so memory stays bounded."""
        total = encoded.num_frames
        height, width = encoded.original_hw
        num_tracks = len(track_embeddings)
        masks = np.zeros((num_tracks, total, height, width), dtype=bool)
        if num_tracks == 0:
            return masks
        done = 0
        for window, embeddings in encoded.sam.chunks():
            for begin in range(0, len(embeddings), decode_batch):
                part = embeddings[begin : begin + decode_batch]
                frames = slice(window.start + begin, window.start + begin + len(part))
                for track, embedding in enumerate(track_embeddings):
                    logits = self.mask_logits(encoded, part, embedding)
                    masks[track, frames] = (logits > 0).cpu().numpy()
                done += len(part) * num_tracks
                if progress:
                    progress("mask_decode", done, total * num_tracks)
            del embeddings
        return masks


class _TextStreamer:
    """Turns generated ids into text deltas; holds back an incomplete UTF-8 character."""

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[[str], None]):
        self._decode = decode
        self._on_text = on_text
        self._ids: list[int] = []
        self._sent = ""

    def push(self, token_id: int) -> None:
        self._ids.append(token_id)
        text = self._decode(self._ids).lstrip()
        if text.endswith("\ufffd") or not text.startswith(self._sent):
            return
        delta, self._sent = text[len(self._sent) :], text
        if delta:
            self._on_text(delta)
