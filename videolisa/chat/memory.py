"""Giving freed memory back to the system after a turn.

A server answers turns in a pool of threads; glibc keeps memory a thread freed in that thread's
arena, so the resident size of a long-running server creeps up turn after turn although nothing
is kept (measured: +56 MB over 160 turns of one API session with the bundled model, +23 MB with
this after every turn). ``malloc_trim`` hands the free pages back; elsewhere it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``); a no-op elsewhere."""
    trim = _trim()
    if trim is not None:
        trim(0)
