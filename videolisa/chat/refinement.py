"""Refining an answer's masks over time with a registered tracker, for the chat: which
checkpoint each tracker uses on this server, what the app calls it, and loading it once (a
tracker that cannot be loaded leaves the plain masks and one notice saying why)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from videolisa.chat.messages import hide_paths
from videolisa.errors import UserInputError
from videolisa.inference.trackers import REGISTRY, Tracker, TrackerCache, TrackingSettings

logger = logging.getLogger(__name__)


class Refinement:
    """The server's trackers: ``checkpoints`` names a checkpoint per registered tracker where
    it is not the tracker's default; each is loaded at the first turn that asks for it."""

    def __init__(self, checkpoints: Mapping[str, str] | None = None) -> None:
        self.checkpoints = dict(checkpoints or {})
        self._loaded = TrackerCache()

    def label(self, name: str) -> str:
        """What the app calls tracker ``name``: its title and its checkpoint's name."""
        entry = REGISTRY[name]
        return f"{entry.title} ({Path(self.checkpoints.get(name, entry.default_checkpoint)).name})"

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(label, name) of every registered tracker."""
        return [(self.label(name), name) for name in REGISTRY]

    def tracker(
        self, name: str, feature_budget_bytes: int | None, device: torch.device
    ) -> tuple[Tracker | None, TrackingSettings | None, str]:
        """Tracker ``name`` with its refine settings (its features within
        ``feature_budget_bytes``) and the notice for the answer; (None, None, notice) when it
        cannot be loaded here."""
        tracking = TrackingSettings.resolve(
            "refine", name, self.checkpoints.get(name), feature_budget_bytes=feature_budget_bytes
        )
        try:
            tracker = self._loaded.get(tracking.entry, tracking.checkpoint, device)
        except UserInputError as error:
            logger.warning("refinement unavailable: %s", error)
            return None, None, unavailable(tracking.entry.title, error)
        title = f"{tracking.entry.title} ({Path(tracking.model).name})"
        return tracker, tracking, f"Masks refined over time by {title}."


def unavailable(title: str, error: UserInputError) -> str:
    """The notice of a turn whose refinement could not run: its masks are the plain ones."""
    return (
        f"Refining over time with {title} is not available on this server, so these are the "
        f"plain masks. {hide_paths(error.problem)} Operators: start the app with "
        "--refine-model DIR (a downloaded checkpoint folder)."
    )
