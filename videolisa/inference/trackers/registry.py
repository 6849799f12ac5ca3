"""The registered trackers, by name, and loading them.

Adding a tracker is one module beside this one defining a :class:`TrackerEntry` and one entry in
:data:`TRACKERS`; ``--refine NAME``, ``--propagate NAME``, the app's setting and the eval
command's mode follow from it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from videolisa.errors import ConfigError, UserInputError
from videolisa.inference.trackers import edgetam, sam2, sam3
from videolisa.inference.trackers.base import Tracker, TrackerEntry

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TRACKERS: tuple[TrackerEntry, ...] = (sam2.ENTRY, edgetam.ENTRY, sam3.ENTRY)
REGISTRY: dict[str, TrackerEntry] = {entry.name: entry for entry in TRACKERS}


def tracker_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get_entry(name: str) -> TrackerEntry:
    """The registered tracker ``name``.

    Raises:
        ConfigError: no tracker of that name (the message lists the registered ones).
    """
    if name not in REGISTRY:
        raise ConfigError(f"Unknown tracker {name!r}.", f"Use one of: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def checkpoint_kind(checkpoint: str) -> str | None:
    """The ``model_type`` in ``checkpoint``'s ``config.json`` (a folder, or a hub id whose config
    is on this machine or can be fetched), or None where it cannot be read."""
    folder = Path(checkpoint)
    try:
        if folder.is_dir():
            config = folder / "config.json"
        else:
            from huggingface_hub import hf_hub_download

            config = Path(hf_hub_download(checkpoint, "config.json"))
        return json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError) as error:
        logger.debug("cannot read the config of %s: %s", checkpoint, error)
        return None


def entry_for(name: str | None, checkpoint: str | None) -> TrackerEntry:
    """The entry of tracker ``name``, or, with ``name`` left out, the one whose checkpoints are
    of ``checkpoint``'s kind (its ``config.json`` ``model_type``), else SAM 2.

    Raises:
        ConfigError: ``name`` is not registered, or ``checkpoint`` is a registered kind other
            than ``name``'s, or of no registered kind.
    """
    if name is not None:
        entry = get_entry(name)
        if checkpoint is None or checkpoint == entry.default_checkpoint:
            return entry
    elif checkpoint is None:
        return REGISTRY["sam2"]
    else:
        entry = next((e for e in TRACKERS if e.default_checkpoint == checkpoint), None)
        if entry is not None:
            return entry
    kind = checkpoint_kind(checkpoint)
    found = next((e for e in TRACKERS if kind in e.model_types), None) if kind else None
    if name is None and found is None:
        known = ", ".join(t for e in TRACKERS for t in e.model_types)
        raise ConfigError(
            f"Cannot tell which tracker {checkpoint} is (its config.json model_type: {kind}).",
            f"Name it (--refine NAME, one of {', '.join(REGISTRY)}) or pass a checkpoint of a "
            f"registered kind ({known}).",
        )
    if name is not None and found is not None and found is not entry:
        raise ConfigError(
            f"{checkpoint} is a {found.title} checkpoint ({kind}), not {entry.title}.",
            f"Use --refine {found.name} (or --propagate {found.name}), or leave the name out.",
        )
    return found or entry


def load_tracker(
    entry: TrackerEntry,
    checkpoint: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> Tracker:
    """Load ``entry``'s tracker from ``checkpoint`` (a hub id, downloaded once, or a folder;
    default the entry's own) on ``device`` in ``dtype`` (float32 on a CPU, else bfloat16).

    Raises:
        UserInputError: the checkpoint is not on this machine and cannot be downloaded, or is
            not a checkpoint of this tracker (one line naming it and what to do).
    """
    import torch

    checkpoint = checkpoint or entry.default_checkpoint
    device = torch.device(device)
    if dtype is None:
        dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    try:
        return entry.load(entry.name, str(checkpoint), device, dtype)
    except OSError as error:
        access = (
            f"; {entry.access}" if entry.access and checkpoint == entry.default_checkpoint else ""
        )
        raise UserInputError(
            f"The {entry.title} checkpoint {checkpoint} is not on this machine and cannot be "
            f"downloaded here ({type(error).__name__}){access}.",
            f"Download it where the hub is reachable (huggingface-cli download {checkpoint}) "
            "and pass its folder with --refine-model DIR, or leave out --refine/--propagate.",
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise UserInputError(
            f"{checkpoint} is not a {entry.title} video checkpoint ({error}).",
            f"Pass a {entry.title} checkpoint, e.g. {entry.default_checkpoint}.",
        ) from error


class TrackerCache:
    """Trackers loaded once per checkpoint and device; a failed load is remembered, so it is
    reported again at once instead of being retried on every request."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Tracker | UserInputError] = {}

    def get(self, entry: TrackerEntry, checkpoint: str | None, device: torch.device) -> Tracker:
        """The tracker of ``entry`` from ``checkpoint`` (default the entry's own) on ``device``.

        Raises:
            UserInputError: as :func:`load_tracker`, now or the first time it was asked for.
        """
        key = (entry.name, checkpoint or entry.default_checkpoint, str(device))
        if key not in self._loaded:
            try:
                self._loaded[key] = load_tracker(entry, checkpoint, device)
            except UserInputError as error:
                self._loaded[key] = error
        found = self._loaded[key]
        if isinstance(found, UserInputError):
            raise found
        return found
