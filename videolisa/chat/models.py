"""Which model the chat app runs, and what the app tells its users about it.

Order: ``--model``, then the environment variable ``VIDEOLISA_MODEL``, then the bundled toy-world
model (:data:`~videolisa.defaults.DEFAULT_MODEL`) if it is there; otherwise a tiny randomly
initialised model is created once in the user's cache folder so that the app still runs (its
answers and masks are meaningless, and the app says so).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videolisa.defaults import DEFAULT_MODEL, MODEL_ENV, PUBLISHED_MODEL
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.toyworld import KINDS, generate_sample

logger = logging.getLogger(__name__)

USE_PUBLISHED = f"python app.py --model {PUBLISHED_MODEL}"
DEMO_FOLDER = "untrained-demo"
DEMO_SEED = 0
DEMO_SAMPLES_PER_KIND = 20  # toy-world conversations whose text trains the demo tokenizer


@dataclass(frozen=True)
class ModelChoice:
    """A checkpoint folder or hub id; ``untrained`` for the random demo model."""

    model: str
    untrained: bool = False

    @property
    def bundled(self) -> bool:
        """True for the bundled toy-world model (which knows coloured shapes only)."""
        return not self.untrained and Path(self.model).resolve() == DEFAULT_MODEL.resolve()

    @property
    def name(self) -> str:
        """What to call the model: a folder's name, or the hub id."""
        path = Path(self.model)
        return path.name if path.exists() else self.model


def model_card(choice: ModelChoice, precision: str, device: str) -> str:
    """Markdown saying which model runs, how, and what it can do."""
    runs = f"**{choice.name}** · {precision} on {device}"
    if choice.untrained:
        return (
            f"{runs}  \n⚠️ **Untrained demo weights**: no model was given and the bundled "
            "toy-world model is missing, so answers and masks are noise. For real videos: "
            f"`{USE_PUBLISHED}` (or set `{MODEL_ENV}`)."
        )
    if choice.bundled:
        return (
            f"{runs} — the bundled toy-world model ({_folder_megabytes(Path(choice.model))} MB). "
            "It **knows coloured shapes on dark backgrounds only**: use the examples below or "
            f"videos like them. For real videos use the published model: `{USE_PUBLISHED}`"
        )
    return (
        f"{runs} — answers questions about a video and segments, on every frame, each object "
        "its answer points at (reasoning, rules, several objects, follow-up questions)."
    )


def _folder_megabytes(folder: Path) -> int:
    """The size of the files in ``folder`` (and below it), in whole megabytes."""
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6)


# The bundled model was trained on questions of a few hundred characters: asked a question of
# 2,000 characters (~500 positions) it still answers in its grammar, of 2,500 it answers "S<TRK>."
# (measured on shapes.mp4), so its questions are cut well before that.
TOY_MAX_QUESTION_CHARS = 1_500

TOY_MODEL_NOTICE = (
    "This video does not look like the toy world: the bundled model knows only coloured shapes "
    "on dark backgrounds, so its answer and masks here are not meaningful. For real videos "
    f"start the app with the published model ({USE_PUBLISHED})."
)


def choose_model(requested: str | None, cache_root: Path | None = None) -> ModelChoice:
    """The model to load: ``requested``, ``$VIDEOLISA_MODEL``, the bundled model, or the demo
    model (created under ``cache_root``, default ``$XDG_CACHE_HOME/videolisa``)."""
    for candidate in (requested, os.environ.get(MODEL_ENV)):
        if candidate:
            return ModelChoice(candidate)
    if (DEFAULT_MODEL / "config.json").is_file():
        return ModelChoice(str(DEFAULT_MODEL))
    folder = demo_checkpoint(cache_root or default_cache_root())
    logger.warning("no model given and %s is missing: using untrained weights", DEFAULT_MODEL)
    return ModelChoice(str(folder), untrained=True)


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "videolisa"


def demo_sentences(samples_per_kind: int = DEMO_SAMPLES_PER_KIND) -> list[str]:
    """Questions and answers of every toy-world kind (fixed seeds)."""
    rng = np.random.default_rng(DEMO_SEED)
    sentences = []
    for kind in KINDS:
        for _ in range(samples_per_kind):
            for turn in generate_sample(rng, kind).turns:
                sentences += [turn.question, turn.answer]
    return sentences


def demo_checkpoint(cache_root: Path) -> Path:
    """``cache_root/untrained-demo``: a tiny random VideoLISA, created on first use."""
    folder = cache_root / DEMO_FOLDER
    if (folder / "config.json").is_file():
        return folder
    cache_root.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed, so an interrupted build is never loaded.
    staging = Path(tempfile.mkdtemp(prefix=f"{DEMO_FOLDER}-", dir=cache_root))
    try:
        create_tiny_checkpoint(staging / "model", demo_sentences(), seed=DEMO_SEED)
        shutil.rmtree(folder, ignore_errors=True)
        (staging / "model").rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("created untrained demo weights in %s", folder)
    return folder
