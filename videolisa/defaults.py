"""Paths the project ships with, and defaults shared by the commands and the app."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = PROJECT_ROOT / "assets" / "models" / "videolisa-toy"
DEFAULT_MAX_TRACKS = 8  # objects one answer segments at most (--max-tracks)
MODEL_ENV = "VIDEOLISA_MODEL"  # the app's model when --model is not given
PUBLISHED_MODEL = "ZechenBai/VideoLISA-3.8B"
DEFAULT_REFINE_MODEL = "facebook/sam2.1-hiera-tiny"  # SAM 2 of --refine / --propagate
