"""Loading a tracker of transformers' video-session kind (SAM 2, EdgeTAM, SAM 3) by class name,
so that the registry names its classes without importing torch or the models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from videolisa.inference.trackers.base import TrackerLoader

if TYPE_CHECKING:
    import torch

    from videolisa.inference.trackers.session import SessionTracker


def session_loader(model_class: str, processor_class: str) -> TrackerLoader:
    """A loader of a :class:`~videolisa.inference.trackers.session.SessionTracker` from
    transformers' ``model_class`` and ``processor_class`` (imported when it loads)."""

    def load(
        name: str, checkpoint: str, device: torch.device, dtype: torch.dtype
    ) -> SessionTracker:
        import transformers

        from videolisa.inference.trackers.session import SessionTracker

        model = getattr(transformers, model_class).from_pretrained(checkpoint, dtype=dtype)
        processor = getattr(transformers, processor_class).from_pretrained(checkpoint)
        return SessionTracker(model.to(device), processor, name, checkpoint)

    return load
