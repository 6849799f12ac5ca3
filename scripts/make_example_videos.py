"""Write the chat app's example videos (`assets/examples/`) and `prompts/examples.json`,
flagging the examples the bundled toy-world model answers correctly.

Each example is a toy-world video with the question the toy world asks about it, so the prompt
always fits the video. An example slot lists question wordings, most wanted first; each is
tried on TRIES fresh videos drawn the way the example is (seeds no training or test set uses),
and the first wording the model answers right at least RELIABLE times is taken, with the first
of its videos the model answers right, and flagged ``toy_model_answers``. Where no wording
reaches that, the first wording is taken unflagged, and the app shows it last, as needing the
published model. Right:
a text answer exactly the reference; a segmentation answer with one track per reference object
and J&F >= 0.5 on each; for a two-turn question, both turns. Seeds are fixed: running this
again with the same model writes the same videos and flags.

    python -m scripts.make_example_videos [--model assets/models/videolisa-toy]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videolisa.defaults import DEFAULT_MODEL, PROJECT_ROOT
from videolisa.evaluation.benchmarks.toyworld import reference_track_scores
from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.chat_template import Message
from videolisa.toyworld import Sample, WorldConfig, generate_sample
from videolisa.video import read_video, write_mp4

logger = logging.getLogger(__name__)

OUT_DIR = PROJECT_ROOT / "assets" / "examples"
PROMPTS_FILE = PROJECT_ROOT / "prompts" / "examples.json"
FPS = 8.0
MAX_BYTES = 200_000
WORLD = WorldConfig(background="dark")  # the held-out sets' frames and sizes, a calm background
MAX_SEEDS = 500
TRIES = 10
RELIABLE = 8
EXAMPLE_TRIES = 20  # videos of a reliable wording tried for one the model answers right
RIGHT_J_AND_F = 0.5
FRESH_SEEDS = 0xE8A3  # the fresh videos' seed sequence (training and test sets use others)


@dataclass(frozen=True)
class Slot:
    """One example: its file stem, question kind, first seed, and the words its question
    must contain, one wording per alternative, most wanted first."""

    stem: str
    kind: str
    seed: int
    wordings: tuple[str, ...]


SLOTS: tuple[Slot, ...] = (
    Slot("shapes", "attribute", 1, ("",)),
    Slot("motion", "motion", 2, ("moves up", "moves to the left", "moves", "stays still")),
    Slot("dangerous", "rule", 3, ("dangerous",)),
    Slot("racer", "rule", 4, ("racer",)),
    Slot("several", "several", 5, ("objects.", "every")),
)


def find_sample(kind: str, words: str, seeds: range) -> tuple[int, Sample]:
    """The first seed in ``seeds`` (and its sample) whose first question contains ``words``,
    with an even width and height (which H.264 keeps as they are)."""
    for seed in seeds:
        sample = generate_sample(np.random.default_rng(seed), kind, WORLD)
        even = sample.frames.shape[1] % 2 == 0 and sample.frames.shape[2] % 2 == 0
        if even and words in sample.turns[0].question:
            return seed, sample
    raise RuntimeError(f"no {kind} question with {words!r} in seeds {seeds}")


def fresh_samples(slot: Slot, words: str, count: int) -> list[Sample]:
    """``count`` videos of ``slot``'s kind whose question contains ``words``, from seeds kept for
    this measurement."""
    samples = []
    for index in range(count * MAX_SEEDS):
        if len(samples) == count:
            return samples
        spawn_key = (slot.seed, slot.wordings.index(words), index)
        rng = np.random.default_rng(np.random.SeedSequence(FRESH_SEEDS, spawn_key=spawn_key))
        sample = generate_sample(rng, slot.kind, WORLD)
        if words in sample.turns[0].question:
            samples.append(sample)
    raise RuntimeError(f"fewer than {count} {slot.kind} questions with {words!r}")


def answered_right(pipeline: VideoLISAPipeline, frames: np.ndarray, sample: Sample) -> bool:
    """Whether the model answers every turn of ``sample`` right on ``frames`` ((T, H, W, 3) uint8
    RGB, the sample's video or a decoded copy of it), with the reference answers as history."""
    encoded = pipeline.encode(frames)
    history: list[Message] = []
    for turn in sample.turns:
        answer = pipeline.answer(encoded, history, turn.question)
        if not turn.track_objects:
            if answer.text.strip() != turn.answer.strip():
                return False
        else:
            masks = pipeline.track_masks(encoded, answer.track_embeddings)
            if len(masks) != len(turn.track_objects):
                return False
            if any(
                (j + f) / 2 < RIGHT_J_AND_F for j, f in reference_track_scores(masks, sample, turn)
            ):
                return False
        history += [Message("user", turn.question), Message("assistant", turn.answer)]
    return True


def make_example(slot: Slot, pipeline: VideoLISAPipeline) -> dict[str, object]:
    """Write ``slot.stem``.mp4 and return its ``examples.json`` entry: for the first wording the
    model answers reliably, the first video of it (from ``slot.seed`` on) that it answers right;
    else the first wording's first video, unflagged."""
    path = OUT_DIR / f"{slot.stem}.mp4"
    for words in slot.wordings:
        wins = sum(answered_right(pipeline, s.frames, s) for s in fresh_samples(slot, words, TRIES))
        logger.info("%s, %r: %d of %d fresh videos right", slot.stem, words, wins, TRIES)
        if wins < RELIABLE:
            continue
        seed = slot.seed
        for _ in range(EXAMPLE_TRIES):
            seed, sample = find_sample(slot.kind, words, range(seed, seed + MAX_SEEDS))
            write_example_video(path, sample)
            if answered_right(pipeline, read_video(path).frames, sample):
                logger.info("%s (seed %d): %s", slot.stem, seed, sample.turns[0].question)
                return {
                    "prompt": sample.turns[0].question,
                    "video": path.name,
                    "toy_model_answers": True,
                }
            seed += 1
    seed, sample = find_sample(slot.kind, slot.wordings[0], range(slot.seed, slot.seed + MAX_SEEDS))
    write_example_video(path, sample)
    logger.info(
        "%s (seed %d, for the published model): %s", slot.stem, seed, sample.turns[0].question
    )
    return {"prompt": sample.turns[0].question, "video": path.name, "toy_model_answers": False}


def write_example_video(path: Path, sample: Sample) -> None:
    write_mp4(path, sample.frames, FPS)
    if path.stat().st_size > MAX_BYTES:
        raise RuntimeError(f"{path} is {path.stat().st_size} bytes, more than {MAX_BYTES}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the bundled model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    pipeline = VideoLISAPipeline.from_pretrained(args.model, device="cpu")
    entries = [make_example(slot, pipeline) for slot in SLOTS]
    PROMPTS_FILE.write_text(json.dumps(entries, indent=2) + "\n")
    logger.info("wrote %d examples to %s", len(entries), PROMPTS_FILE)


if __name__ == "__main__":
    main()
