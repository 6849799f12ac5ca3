"""Write the chat app's example videos (`assets/examples/`) and `prompts/examples.json`.

Each example is a toy-world video with the question the toy world asks about it, so the prompt
always fits the video. Seeds are fixed: running this again writes the same videos.

    python -m scripts.make_example_videos
"""

from __future__ import annotations

import json
import logging

import numpy as np

from videolisa.defaults import PROJECT_ROOT
from videolisa.toyworld import WorldConfig, generate_sample
from videolisa.video import write_mp4

logger = logging.getLogger(__name__)

OUT_DIR = PROJECT_ROOT / "assets" / "examples"
PROMPTS_FILE = PROJECT_ROOT / "prompts" / "examples.json"
FPS = 8.0
MAX_BYTES = 200_000
WORLD = WorldConfig(min_frames=24, max_frames=32, min_size=128, max_size=128, background="dark")
# (file stem, question kind, words the question must contain, first seed tried)
EXAMPLES: tuple[tuple[str, str, str, int], ...] = (
    ("shapes", "attribute", "", 1),
    ("motion", "motion", "moves", 2),
    ("dangerous", "rule", "dangerous", 3),
    ("racer", "rule", "racer", 4),
    ("several", "several", "", 5),
)
# Question kinds the bundled toy-world model answers correctly most of the time (held-out J&F
# of `python -m videolisa eval --benchmark toyworld`, README "The bundled model"); the app shows
# the other examples last, marked as being for the published model.
TOY_MODEL_KINDS = frozenset({"attribute"})
MAX_SEEDS = 500


def make_example(stem: str, kind: str, words: str, seed: int) -> dict[str, str]:
    """Write ``stem.mp4`` for the first seed from ``seed`` whose question contains ``words``."""
    for attempt in range(seed, seed + MAX_SEEDS):
        sample = generate_sample(np.random.default_rng(attempt), kind, WORLD)
        question = sample.turns[0].question
        if words in question:
            path = OUT_DIR / f"{stem}.mp4"
            write_mp4(path, sample.frames, FPS)
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise RuntimeError(f"{path} is {size} bytes, more than {MAX_BYTES}")
            logger.info(
                "%s: seed %d, %d frames, %d bytes: %s",
                stem,
                attempt,
                len(sample.frames),
                size,
                question,
            )
            return {
                "prompt": question,
                "video": path.name,
                "toy_model_answers": kind in TOY_MODEL_KINDS,
            }
    raise RuntimeError(f"no {kind} question with {words!r} in {MAX_SEEDS} seeds from {seed}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    entries = [make_example(*example) for example in EXAMPLES]
    PROMPTS_FILE.write_text(json.dumps(entries, indent=2) + "\n")
    logger.info("wrote %d examples to %s", len(entries), PROMPTS_FILE)


if __name__ == "__main__":
    main()
