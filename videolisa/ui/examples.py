"""The chat's examples (``prompts/examples.json``): a video and a question each."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from videolisa.defaults import EXAMPLES_DIR, EXAMPLES_FILE

logger = logging.getLogger(__name__)
NEEDS_PUBLISHED = "(for the published model)"


def load_examples(toy: bool, file: Path = EXAMPLES_FILE) -> list[dict[str, Any]]:
    """The examples as Gradio's chat shows them (``text``, ``files``, ``display_text``); with the
    toy model, those it answers correctly come first and the others are marked as needing the
    published model. Missing videos are skipped."""
    if not file.is_file():
        return []
    examples = []
    for entry in json.loads(file.read_text()):
        video = EXAMPLES_DIR / entry["video"]
        if not video.is_file():
            logger.warning(
                "example video %s is missing; run python -m scripts.make_example_videos", video
            )
            continue
        works = entry.get("toy_model_answers", True) or not toy
        label = entry["prompt"] if works else f"{entry['prompt']} {NEEDS_PUBLISHED}"
        examples.append(
            {"text": entry["prompt"], "files": [str(video)], "display_text": label, "works": works}
        )
    examples.sort(key=lambda example: not example["works"])
    return [{k: v for k, v in example.items() if k != "works"} for example in examples]
