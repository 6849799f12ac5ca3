"""Paths the project ships with, and defaults shared by the commands and the app."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What a package carries beside its code: checkout path -> path under videolisa/data/ (setup.py
# copies them there when a wheel is built; a checkout reads them at its root).
SHIPPED = {
    "assets/models/videolisa-toy": "models/videolisa-toy",
    "assets/examples": "examples",
    "prompts/examples.json": "examples.json",
}
_DATA = Path(__file__).resolve().parent / "data"


def _shipped(checkout: str) -> Path:
    """Where a shipped file is: in the installed package, else in the checkout."""
    installed = _DATA / SHIPPED[checkout]
    return installed if _DATA.is_dir() else PROJECT_ROOT / checkout


DEFAULT_MODEL = _shipped("assets/models/videolisa-toy")
EXAMPLES_FILE = _shipped("prompts/examples.json")  # the app's examples
EXAMPLES_DIR = _shipped("assets/examples")  # their videos
DEFAULT_MAX_TRACKS = 8  # objects one answer segments at most (--max-tracks)
MODEL_ENV = "VIDEOLISA_MODEL"  # the app's model when --model is not given
PUBLISHED_MODEL = "ZechenBai/VideoLISA-3.8B"
DEFAULT_REFINE_MODEL = "facebook/sam2.1-hiera-tiny"  # the default tracker's (sam2) checkpoint
