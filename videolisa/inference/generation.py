"""Answering: a forced answer in one forward pass, or token-by-token generation with a KV cache.

Either way every ``<TRK>`` in the answer yields the last-layer hidden state of the position that
predicts it (DESIGN.md): under teacher forcing the position before the token, in generation the
state of the step that emitted it.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import torch

from videolisa.errors import ConfigError
from videolisa.modeling.tokenizer import IMAGE_PLACEHOLDER_ID
from videolisa.modeling.videolisa import VideoLISAModel


@dataclass(frozen=True)
class GenerationSettings:
    """How to answer: generation (``temperature`` 0 is greedy) and, for generated and forced
    answers alike, the most tracks an answer may have (``max_tracks``; None: no limit)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    max_tracks: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ConfigError(f"temperature must be 0 (greedy) or more, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tracks is not None and self.max_tracks < 0:
            raise ConfigError(f"max_tracks must be 0 or more, got {self.max_tracks}.")


@dataclass
class RawAnswer:
    token_ids: list[int]  # the answer's ids (without the end-of-turn token)
    track_states: torch.Tensor  # (K, H) hidden states that predicted each <TRK>
    track_limit_hit: bool = False  # cut before a track token beyond the limit

    def limit_tracks(self, max_tracks: int | None, track_token_id: int) -> RawAnswer:
        """This answer cut before its track token number ``max_tracks + 1`` (None: no limit)."""
        track_at = [i for i, token in enumerate(self.token_ids) if token == track_token_id]
        if max_tracks is None or len(track_at) <= max_tracks:
            return self
        return replace(
            self,
            token_ids=self.token_ids[: track_at[max_tracks]],
            track_states=self.track_states[:max_tracks],
            track_limit_hit=True,
        )


def llm_position(index: int, input_ids: Sequence[int], num_video_tokens: int) -> int:
    """Position in the LLM sequence of ``input_ids[index]`` once the placeholder is replaced by
    ``num_video_tokens`` tokens."""
    placeholder = list(input_ids).index(IMAGE_PLACEHOLDER_ID)
    return index + num_video_tokens - 1 if index > placeholder else index


@torch.inference_mode()
def forced_answer_states(
    model: VideoLISAModel,
    input_ids: Sequence[int],
    answer_start: int,
    video_tokens: torch.Tensor,
    track_token_id: int,
) -> RawAnswer:
    """One forward pass over the prompt with its answer (ids from ``answer_start`` on).

    Returns the hidden states at the positions before each track token of the answer.
    """
    ids = torch.tensor(input_ids, device=model.device)
    embeds = model.embed_prompt(ids, video_tokens)
    hidden = model.llm.model(inputs_embeds=embeds).last_hidden_state[0]
    track_at = [i for i in range(answer_start, len(input_ids)) if input_ids[i] == track_token_id]
    positions = [llm_position(i, input_ids, len(video_tokens)) - 1 for i in track_at]
    return RawAnswer(
        token_ids=list(input_ids[answer_start:]),
        track_states=hidden[positions],
    )


@torch.inference_mode()  # torch enters it around every step of a generator
def generate_steps(
    model: VideoLISAModel,
    input_ids: Sequence[int],
    video_tokens: torch.Tensor,
    track_token_id: int,
    stop_ids: set[int],
    settings: GenerationSettings,
) -> Generator[int, None, RawAnswer]:
    """Generate an answer after the prompt, one token per step: yields each new id, returns
    the :class:`RawAnswer`. Stops at a stop id, after ``settings.max_new_tokens``, or before a
    track token beyond ``settings.max_tracks`` (then ``track_limit_hit``)."""
    max_tracks = settings.max_tracks
    ids = torch.tensor(input_ids, device=model.device)
    embeds = model.embed_prompt(ids, video_tokens)
    outputs = model.llm.model(inputs_embeds=embeds, use_cache=True)
    embed_tokens = model.llm.get_input_embeddings()
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    cache = outputs.past_key_values
    state = outputs.last_hidden_state[0, -1]
    answer: list[int] = []
    track_states: list[torch.Tensor] = []
    limit_hit = False
    for _ in range(settings.max_new_tokens):
        logits = model.llm.lm_head(state).float()
        token = _pick(logits, settings, generator)
        if token in stop_ids:
            break
        if token == track_token_id:
            if max_tracks is not None and len(track_states) == max_tracks:
                limit_hit = True
                break
            track_states.append(state)
        answer.append(token)
        yield token
        step = embed_tokens(torch.tensor([[token]], device=model.device))
        outputs = model.llm.model(inputs_embeds=step, past_key_values=cache, use_cache=True)
        cache = outputs.past_key_values
        state = outputs.last_hidden_state[0, -1]
    hidden_size = model.config.hidden_size
    stacked = torch.stack(track_states) if track_states else state.new_zeros(0, hidden_size)
    return RawAnswer(answer, stacked, limit_hit)


def _pick(logits: torch.Tensor, settings: GenerationSettings, generator: torch.Generator) -> int:
    if settings.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / settings.temperature, dim=-1).cpu()
    if settings.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < settings.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
