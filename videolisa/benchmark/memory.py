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

from videolisa.errors import ConfigError

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20}
_UNITS["GIB"] = 2**30
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 2**20


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in a size such as ``2GB``, ``512MiB`` or ``1000`` (decimal units; KiB, MiB, GiB
    binary); ``what`` names the setting in the error."""
    match = _SIZE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise ConfigError(
            f"Cannot read {what} {text!r}.",
            "Write a number with an optional unit: B, KB, MB, GB, KiB, MiB or GiB (e.g. 2GB).",
        )
    return int(float(match.group(1)) * _UNITS[unit])


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
