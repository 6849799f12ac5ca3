"""VideoLISA chat: answer questions about a video and segment what they point at, on every frame.

The public API (imported on first use, so ``python -m videolisa --help`` stays fast)::

    from videolisa import (
        EncodeSettings, GenerationSettings, ResultWriter, VideoLISAPipeline, read_video
    )

    pipeline = VideoLISAPipeline.from_pretrained("ZechenBai/VideoLISA-3.8B")
    video = read_video("cat.mp4")                        # frames: (T, H, W, 3) uint8 RGB
    encoded = pipeline.encode(video.frames, EncodeSettings())
    answer = pipeline.answer(encoded, [], "Where is the cat?", settings=GenerationSettings())
    with ResultWriter("out/cat", video, answer.num_tracks) as writer:
        for chunk in pipeline.mask_steps(encoded, answer.track_embeddings):
            writer.add(chunk.frames, chunk.masks)    # (K, t, H, W) bool, a chunk at a time
        writer.finish(answer.text, encoded.sampling, {})
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "VideoLISAPipeline": "videolisa.inference.pipeline",
    "Box": "videolisa.inference.visual_prompts",
    "Click": "videolisa.inference.visual_prompts",
    "FramePrompt": "videolisa.inference.visual_prompts",
    "EncodeSettings": "videolisa.inference.encoded_video",
    "GenerationSettings": "videolisa.inference.generation",
    "Message": "videolisa.modeling.chat_template",
    "read_video": "videolisa.video",
    "ResultWriter": "videolisa.outputs",
    "UserInputError": "videolisa.errors",
}

__all__ = [
    "Box",
    "Click",
    "EncodeSettings",
    "FramePrompt",
    "GenerationSettings",
    "Message",
    "ResultWriter",
    "UserInputError",
    "VideoLISAPipeline",
    "read_video",
]

if TYPE_CHECKING:
    from videolisa.errors import UserInputError
    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.inference.generation import GenerationSettings
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.inference.visual_prompts import Box, Click, FramePrompt
    from videolisa.modeling.chat_template import Message
    from videolisa.outputs import ResultWriter
    from videolisa.video import read_video


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'videolisa' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
