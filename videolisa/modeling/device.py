"""Choosing the device and dtype: ``auto`` picks cuda, then mps, then cpu."""

from __future__ import annotations

import torch

from videolisa.errors import ConfigError

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = {
    "auto": None,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> the best available device; a named device must be available."""
    if name not in DEVICES:
        raise ConfigError(f"Unknown device '{name}'.", f"Use one of: {', '.join(DEVICES)}.")
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ConfigError(f"Device '{name}' is not available here.", "Use --device cpu or auto.")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on CPU."""
    if name not in DTYPES:
        raise ConfigError(f"Unknown dtype '{name}'.", f"Use one of: {', '.join(DTYPES)}.")
    if name != "auto":
        return DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device.type == "mps" else torch.float32


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a measured stage's time is its own (a no-op on
    a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
