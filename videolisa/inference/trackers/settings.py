"""How masks are carried over time, and the name of each way of making masks."""

from __future__ import annotations

from dataclasses import dataclass

from videolisa.errors import ConfigError
from videolisa.inference.trackers.base import TrackerEntry
from videolisa.inference.trackers.registry import entry_for, get_entry

MODES: tuple[str, ...] = ("refine", "propagate")
ONE_TOKEN_SEG_ALL = "one_token_seg_all"  # no tracker: SAM decodes the <TRK> prompt on every frame


@dataclass(frozen=True)
class TrackingSettings:
    """How a tracker carries the keyframes' masks over the video.

    ``mode``: "refine" (One-Token-Seg-All encodes every frame; the tracker redoes the frames
    between the keyframes) or "propagate" (SAM's encoder runs on the keyframes only, the tracker
    does every other frame). ``tracker``: a registered name (``--refine NAME``); ``checkpoint``:
    a hub id or folder, default the tracker's own. ``keyframes``: "dense" (the dense frames, as
    published) or a number k (the k frames whose One-Token-Seg-All masks have the highest
    predicted IoU; refine only). ``feature_budget_bytes``: the tracker's image features kept per
    video (None: all).
    """

    mode: str = "refine"
    tracker: str = "sam2"
    checkpoint: str | None = None
    keyframes: str | int = "dense"
    feature_budget_bytes: int | None = 512 * 2**20

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"Unknown mode {self.mode!r}.", f"Use one of: {', '.join(MODES)}.")
        get_entry(self.tracker)
        if self.keyframes != "dense" and not (
            isinstance(self.keyframes, int) and self.keyframes >= 1
        ):
            raise ConfigError(
                f"Keyframes must be 'dense' or a number of frames, got {self.keyframes!r}.",
                "Use dense, or e.g. 4 for the 4 frames with the best predicted masks.",
            )
        if self.mode == "propagate" and self.keyframes != "dense":
            raise ConfigError(
                "Propagation encodes only the dense frames with SAM, so its keyframes are them.",
                f"Use --refine {self.tracker} to choose keyframes by predicted IoU.",
            )

    @classmethod
    def resolve(
        cls,
        mode: str,
        tracker: str | None,
        checkpoint: str | None,
        keyframes: str | int = "dense",
        feature_budget_bytes: int | None = 512 * 2**20,
    ) -> TrackingSettings:
        """Settings with ``tracker`` found from ``checkpoint``'s kind where it is left out
        (see :func:`~videolisa.inference.trackers.registry.entry_for`)."""
        entry = entry_for(tracker, checkpoint)
        return cls(mode, entry.name, checkpoint, keyframes, feature_budget_bytes)

    @property
    def entry(self) -> TrackerEntry:
        return get_entry(self.tracker)

    @property
    def model(self) -> str:
        """The checkpoint to load: the given one, else the tracker's default."""
        return self.checkpoint or self.entry.default_checkpoint

    @property
    def mode_name(self) -> str:
        """e.g. "refine_sam2" or "propagate_sam3" (result.json, eval settings, folders)."""
        return f"{self.mode}_{self.tracker}"


def mask_mode(tracking: TrackingSettings | None) -> str:
    """The name of the way masks are made: :data:`ONE_TOKEN_SEG_ALL` without a tracker."""
    return ONE_TOKEN_SEG_ALL if tracking is None else tracking.mode_name
