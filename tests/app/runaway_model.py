"""A test model that runs away: it answers every question with ``<TRK>`` after ``<TRK>``, and its
SAM is large enough (512 px) that encoding and mask decoding take seconds on a CPU. For the app's
track limit and Stop tests; built from the tiny random model, no download."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import torch
from safetensors.torch import load_file, save_file

from tests.app_server import AppServer
from tests.media import encode_video, square_frames
from videolisa.chat.models import demo_sentences
from videolisa.modeling.tiny import TinySizes, create_tiny_checkpoint
from videolisa.modeling.tokenizer import TRACK_CONCEPT, VideoLISATokenizer

SIZES = TinySizes(sam_img_size=512, sam_patch_size=16, sam_embed_dim=64, sam_depth=2)
MAX_TRACKS = 3  # the --max-tracks its app is started with


def runaway_checkpoint(folder: Path) -> Path:
    """Write the model to ``folder``.

    Every LLM layer adds nothing (its attention and MLP output projections are zero) and every
    token embeds as the same vector, so each position's last hidden state is that vector after
    the final norm, whatever the prompt; ``lm_head`` scores only ``<TRK>`` on it. Greedy
    generation therefore emits ``<TRK>`` until ``max_new_tokens`` or the track limit.
    """
    folder = create_tiny_checkpoint(folder, demo_sentences(2), SIZES)
    weights_file = folder / "model.safetensors"
    weights = load_file(str(weights_file))
    for name, tensor in weights.items():
        if name.endswith(("self_attn.o_proj.weight", "mlp.down_proj.weight")):
            weights[name] = torch.zeros_like(tensor)
    embeddings = weights["model.embed_tokens.weight"]
    vector = embeddings[0].clone()
    weights["model.embed_tokens.weight"] = vector.expand_as(embeddings).contiguous()
    normed = vector * torch.rsqrt(vector.pow(2).mean() + 1e-5) * weights["model.norm.weight"]
    track = VideoLISATokenizer.from_folder(folder).token_id(TRACK_CONCEPT)
    head = torch.zeros_like(weights["lm_head.weight"])
    head[track] = 10 * normed / normed.norm()
    weights["lm_head.weight"] = head
    save_file(weights, str(weights_file), metadata={"format": "pt"})
    return folder


def long_video(path: Path, corner: tuple[int, int] = (100, 40), frames: int = 80) -> Path:
    """``frames`` frames of 320x240 (80: seconds of encoding for the runaway model's SAM);
    another ``corner`` makes another video (the app caches encodings by content)."""
    return encode_video(path, square_frames(frames, 240, 320, corner=corner, side=24))


def seconds_until_idle(server: AppServer, limit: float = 10.0) -> float:
    """Seconds until the server process uses under 10 % of a core over a quarter second."""
    process = psutil.Process(server.process.pid)
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if process.cpu_percent(interval=0.25) < 10:
            return time.perf_counter() - start
    return float("inf")
