"""Peak memory of the process: resident set size (RSS) and, on a GPU, allocated memory.

The peak RSS is reset between measurements where Linux allows it (``/proc/self/clear_refs``),
so two runs in one process each get their own peak; elsewhere it is the process's lifetime
peak (``resource.getrusage``), which only says something about the largest run.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 2**20


def reset_peak() -> bool:
    """Start a new peak measurement (RSS and GPU); False when the RSS peak cannot be reset."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM, the peak RSS (Linux 4.0+)
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """Peak resident set size since the last :func:`reset_peak` (or the process start)."""
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", _STATUS.read_text())
    except OSError:
        found = None
    if found:
        return int(found.group(1)) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def peak_gpu_bytes() -> int | None:
    """Peak memory allocated by PyTorch on the current CUDA device, None without one."""
    if not torch.cuda.is_available():
        return None
    return int(torch.cuda.max_memory_allocated())
