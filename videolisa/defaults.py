"""Paths the project ships with, and defaults shared by the commands and the app."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = PROJECT_ROOT / "assets" / "models" / "videolisa-toy"
EXAMPLES_FILE = PROJECT_ROOT / "prompts" / "examples.json"  # the app's examples
EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"  # their videos
DEFAULT_MAX_TRACKS = 8  # objects one answer segments at most (--max-tracks)
MODEL_ENV = "VIDEOLISA_MODEL"  # the app's model when --model is not given
PUBLISHED_MODEL = "ZechenBai/VideoLISA-3.8B"
DEFAULT_REFINE_MODEL = "facebook/sam2.1-hiera-tiny"  # the default tracker's (sam2) checkpoint
