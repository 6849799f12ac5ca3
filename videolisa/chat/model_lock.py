"""One model for every conversation: each bounded step of a turn holds the lock, never a pause.

Long work is a generator (``inference/steps.py``); :meth:`ModelLock.steps` runs each of its steps
under the lock and lets go between them, so a paused, stopped or abandoned turn never holds the
model and Stop, a closed tab and a cancelled client all end a turn the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class ModelLock:
    """A lock around the model; ``with lock:`` for one call, :meth:`steps` for a generator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> ModelLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def steps(self, steps: Generator[Item, None, Result]) -> Generator[Item, None, Result]:
        """``steps`` with the lock held while each step runs (not between steps); closing this
        closes ``steps``."""
        try:
            while True:
                with self._lock:
                    try:
                        item = next(steps)
                    except StopIteration as stop:
                        return stop.value
                yield item
        finally:
            steps.close()
