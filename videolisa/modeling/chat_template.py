"""Chat templates (``templates/<name>.json``, package data beside this module) rendered into
tokenizer parts.

Only the template's own strings are searched for markers. A user's words stay text whatever they
contain; an assistant's words (history, or a forced answer) are searched for the track token only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from videolisa.errors import ConfigError
from videolisa.modeling.tokenizer import IMAGE, TRACK_CONCEPT, Part, Special

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
IMAGE_MARKER = "<image>"
CONTENT_FIELD = "{content}"


@dataclass(frozen=True)
class Message:
    """One chat message. ``content`` of an assistant message may hold ``<TRK>``."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatTemplate:
    """A chat format: how the system prompt, user and assistant messages are written."""

    name: str
    markers: tuple[str, ...]
    system: str
    user: str
    assistant: str
    assistant_start: str
    image: str
    separator: str
    stop: tuple[str, ...]

    @classmethod
    def load(cls, name_or_path: str = "phi3_instruct") -> ChatTemplate:
        """A template from ``templates/<name>.json`` or a JSON file path."""
        path = Path(name_or_path)
        if not path.is_file():
            path = TEMPLATES_DIR / f"{name_or_path}.json"
        if not path.is_file():
            available = sorted(p.stem for p in TEMPLATES_DIR.glob("*.json"))
            raise ConfigError(
                f"No chat template '{name_or_path}'.", f"Use one of: {', '.join(available)}."
            )
        data = json.loads(path.read_text())
        return cls(
            name=data["name"],
            markers=tuple(data["markers"]),
            system=data["system"],
            user=data["user"],
            assistant=data["assistant"],
            assistant_start=data["assistant_start"],
            image=data["image"],
            separator=data["separator"],
            stop=tuple(data["stop"]),
        )

    def render(
        self,
        messages: Sequence[Message],
        track_token: str,
        add_generation_prompt: bool,
    ) -> list[Part]:
        """Parts of the whole prompt; the video goes before the first user message's text.

        ``track_token`` is the checkpoint's string for ``<TRK>`` (``[SEG]`` for the published
        model); both spellings in assistant messages become that one token.
        """
        parts: list[Part] = self._template_parts(self.system)
        image_pending = True
        for message in messages:
            parts.append(self.separator)
            if message.role == "user":
                content: list[Part] = [message.content]
                if image_pending:
                    content = [*self._template_parts(self.image), *content]
                    image_pending = False
                parts += self._fill(self.user, content)
            else:
                parts += self._fill(self.assistant, _track_parts(message.content, track_token))
        if add_generation_prompt:
            parts += [self.separator, *self._template_parts(self.assistant_start)]
        return parts

    def _fill(self, template: str, content: list[Part]) -> list[Part]:
        before, after = template.split(CONTENT_FIELD)
        return [*self._template_parts(before), *content, *self._template_parts(after)]

    def _template_parts(self, text: str) -> list[Part]:
        tokens = [*self.markers, IMAGE_MARKER]
        pattern = "(" + "|".join(re.escape(t) for t in tokens) + ")"
        parts: list[Part] = []
        for piece in re.split(pattern, text):
            if piece == IMAGE_MARKER:
                parts.append(IMAGE)
            elif piece in self.markers:
                parts.append(Special(piece))
            elif piece:
                parts.append(piece)
        return parts


def _track_parts(text: str, track_token: str) -> list[Part]:
    """Split assistant text on ``<TRK>`` and the checkpoint's own spelling of it."""
    spellings = sorted({TRACK_CONCEPT, track_token}, key=len, reverse=True)
    pattern = "(" + "|".join(re.escape(s) for s in spellings) + ")"
    return [
        Special(track_token) if piece in spellings else piece
        for piece in re.split(pattern, text)
        if piece
    ]
