"""A chat turn's settings, nested by concern, and the one definition of what a server allows.

:class:`TurnSettings` nests the way the concerns do: how the video is encoded (frame counts),
how the answer is generated, whether to force a mask, which tracker refines the masks, how the
overlay is drawn. :class:`SettingsForm` lists every setting a user may change, by name, with its
label, bounds and the server's default; the app builds its controls from it and the API checks
the values it is given with it, so both refuse the same values with the same message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from videolisa.errors import ConfigError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.generation import GenerationSettings

MAX_NEW_TOKENS = 512  # the most a turn may generate, whatever the settings ask
MOST_SPARSE_FRAMES = 64  # a server's caps on the frame counts (each frame costs CLIP and LLM)
MOST_DENSE_FRAMES = 16
TEXT_ROOM = 256  # positions kept for the question and history when bounding the frame counts
MAX_TEMPERATURE = 2.0
NO_TRACKER = "off"


@dataclass(frozen=True)
class DisplaySettings:
    """How an answer's overlay is drawn."""

    opacity: float = 0.5  # of the mask fill

    def __post_init__(self) -> None:
        if not 0 <= self.opacity <= 1:
            raise ConfigError(f"opacity must be in [0, 1], got {self.opacity}.", "Use e.g. 0.5.")


@dataclass(frozen=True)
class TurnSettings:
    """How to answer one question. ``encode``'s frame counts left as None are the model's own
    (its SAM options are the server's); ``generation.max_tracks`` is the server's track limit;
    ``refine`` names a registered tracker (None: One-Token-Seg-All masks)."""

    encode: EncodeSettings = field(default_factory=EncodeSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    always_mask: bool = False  # answer FORCED_ANSWER (the published evaluation mode)
    refine: str | None = None
    display: DisplaySettings = field(default_factory=DisplaySettings)


@dataclass(frozen=True)
class Setting:
    """One setting a user may change: ``name`` is its key in the API and the app, ``kind``
    one of "int", "float", "bool", "choice"; numbers lie in [``low``, ``high``]."""

    name: str
    label: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (label, value)

    def check(self, value: Any) -> Any:
        """``value`` as this setting's type.

        Raises:
            ConfigError: the value is of the wrong type or out of range; the message names the
                setting, its allowed values and the value given.
        """
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise self._refused(value, "true or false")
        if self.kind == "choice":
            allowed = [choice for _, choice in self.choices]
            if isinstance(value, str) and value in allowed:
                return value
            raise self._refused(value, "one of " + ", ".join(allowed))
        allowed = f"from {_plain(self.low)} to {_plain(self.high)}"
        if self.kind == "int":
            whole = isinstance(value, numbers.Integral) or (
                isinstance(value, float) and math.isfinite(value) and value.is_integer()
            )
            if isinstance(value, bool) or not whole or not self.low <= value <= self.high:
                raise self._refused(value, f"a whole number {allowed}")
            return int(value)
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not self.low <= value <= self.high:
            raise self._refused(value, f"a number {allowed}")
        return float(value)

    def _refused(self, value: Any, allowed: str) -> ConfigError:
        shown = repr(value) if isinstance(value, str) else str(value)
        if len(shown) > 40:
            shown = shown[:40] + "…"
        return ConfigError(
            f"Setting {self.name} ({self.label}) must be {allowed}; got {shown}.",
            "Change it in Settings, or pass a value in that range.",
        )


class SettingsForm:
    """Every setting of one server, with its bounds and default, and the :class:`TurnSettings`
    a set of values by name makes.

    Frame counts are bounded by the server's caps and by what the model's context holds with
    room for the longest answer: sparse frames take one position each, dense frames
    ``tokens_per_dense_frame`` more."""

    def __init__(
        self,
        *,
        frames: tuple[int, int],
        context_length: int,
        tokens_per_dense_frame: int,
        max_tracks: int,
        trackers: Sequence[tuple[str, str]] = (),
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        opacity: float = 0.5,
    ) -> None:
        """``frames``: the server's default (sparse, dense) counts; ``trackers``: (label,
        name) of each tracker the server offers for refinement."""
        room = context_length - MAX_NEW_TOKENS - TEXT_ROOM
        most_sparse = max(1, min(MOST_SPARSE_FRAMES, room // 2))
        per_dense = max(1, tokens_per_dense_frame)
        most_dense = max(1, min(MOST_DENSE_FRAMES, most_sparse, (room - most_sparse) // per_dense))
        sparse = min(frames[0], most_sparse)
        self.max_tracks = max_tracks
        fields = (
            Setting("frames_sparse", "Frames (sparse)", "int", sparse, 1, most_sparse, 1),
            Setting("frames_dense", "Frames (dense)", "int", min(frames[1], sparse), 1, most_dense),
            Setting("max_new_tokens", "Max new tokens", "int", max_new_tokens, 1, MAX_NEW_TOKENS),
            Setting(
                "temperature",
                "Temperature (0 = greedy)",
                "float",
                temperature,
                0,
                MAX_TEMPERATURE,
                0.05,
            ),
            Setting(
                "always_mask",
                'Always answer with a mask ("Sure, <TRK>.", the published evaluation)',
                "bool",
                False,
            ),
            Setting(
                "refine",
                "Refine over time",
                "choice",
                NO_TRACKER,
                choices=(("Off", NO_TRACKER), *trackers),
            ),
            Setting("opacity", "Overlay opacity", "float", opacity, 0, 1, 0.05),
        )
        self.fields: dict[str, Setting] = {setting.name: setting for setting in fields}

    @property
    def defaults(self) -> dict[str, Any]:
        return {name: setting.default for name, setting in self.fields.items()}

    def settings(self, values: Mapping[str, Any] | None = None) -> TurnSettings:
        """The turn settings of ``values`` (by name; missing ones, or None, take the defaults).

        Raises:
            ConfigError: an unknown name, or a value its setting does not allow (the message
                names the setting, its allowed values and the value given).
        """
        values = {name: value for name, value in (values or {}).items() if value is not None}
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise ConfigError(
                f"Unknown setting {', '.join(unknown)}.", f"Use: {', '.join(self.fields)}."
            )
        given = {
            name: setting.check(values.get(name, setting.default))
            for name, setting in self.fields.items()
        }
        sparse, dense = given["frames_sparse"], given["frames_dense"]
        if dense > sparse:
            raise ConfigError(
                f"Setting frames_dense (Frames (dense)) must be at most frames_sparse ({sparse}); "
                f"got {dense}.",
                "Lower the dense frames or raise the sparse frames.",
            )
        return TurnSettings(
            encode=EncodeSettings(sparse, dense),
            generation=GenerationSettings(
                max_new_tokens=given["max_new_tokens"],
                temperature=given["temperature"],
                max_tracks=self.max_tracks,
            ),
            always_mask=given["always_mask"],
            refine=None if given["refine"] == NO_TRACKER else given["refine"],
            display=DisplaySettings(given["opacity"]),
        )


def _plain(number: float | None) -> str:
    return f"{number:g}" if number is not None else "?"
