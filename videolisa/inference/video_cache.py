"""A thread-safe LRU cache of encoded videos, shared by all chat sessions and the API.

Entries are keyed by :func:`content_key` (the video's bytes and the sampling settings), so the
same upload under another name reuses its encoding, and other frame counts do not.

cache = VideoCache(max_entries=8, max_bytes=4 << 30)
key = content_key(path, num_sparse=32, num_dense=4, extra=pipeline.description)
encoded = cache.get_or_create(key, lambda: pipeline.encode(read_video(path).frames, settings))
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from videolisa.errors import VideoError
from videolisa.video.reader import frame_files

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
KEY_VERSION = 1  # bump when the key recipe or the encoding changes

V = TypeVar("V")


def content_key(path: str | Path, num_sparse: int, num_dense: int, extra: str = "") -> str:
    """SHA-256 hex key of a video's content and how it is encoded.

    A file is hashed by its bytes (streamed); a folder of frames by the sorted names and bytes of
    the frame images the reader would use. ``num_sparse``, ``num_dense`` and ``extra`` (e.g. the
    pipeline's description) are part of the key, so other settings give another entry.

    Raises:
        VideoError: ``path`` does not exist.
    """
    source = Path(path)
    if source.is_dir():
        kind, digest = "folder", _folder_digest(source)
    elif source.is_file():
        kind, digest = "file", _file_digest(source, hashlib.sha256()).hexdigest()
    else:
        raise VideoError(f"{source} does not exist.", "Check the path and the current folder.")
    recipe = {
        "version": KEY_VERSION,
        "kind": kind,
        "content": digest,
        "num_sparse": num_sparse,
        "num_dense": num_dense,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _file_digest(path: Path, digest: Any) -> Any:
    """``digest`` updated with the bytes of ``path``, read in chunks."""
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest


def _folder_digest(folder: Path) -> str:
    """Hex digest of the names and bytes of the frame images in ``folder``, in reading order."""
    digest = hashlib.sha256()
    for file in frame_files(folder):
        # Length prefixes keep the boundaries between names and contents unambiguous.
        name = file.name.encode()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(file.stat().st_size.to_bytes(8, "big"))
        _file_digest(file, digest)
    return digest.hexdigest()


def _nbytes(value: Any) -> int:
    return int(value.nbytes)


class VideoCache(Generic[V]):
    """At most ``max_entries`` values of at most ``max_bytes`` in total, least recently used
    evicted first. Sizes come from ``sized`` (default: the value's ``.nbytes``)."""

    def __init__(
        self, max_entries: int, max_bytes: int, sized: Callable[[V], int] = _nbytes
    ) -> None:
        if max_entries < 1 or max_bytes < 0:
            raise ValueError(
                f"need max_entries >= 1 and max_bytes >= 0, got {max_entries}, {max_bytes}"
            )
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sized = sized
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()  # oldest first
        self._total = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, tuple[threading.Lock, int]] = {}  # lock, threads using it

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def get(self, key: str) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: V) -> bool:
        """Store ``value`` as the most recently used (measured now), evicting the least recently
        used entries until both bounds hold. A value larger than ``max_bytes`` alone is not
        stored (and an older value under ``key`` is dropped): False."""
        size = self._sized(value)
        with self._lock:
            self._remove(key)
            if size > self.max_bytes:
                logger.debug(
                    "not caching %s: %d bytes exceed the cache's %d", key[:12], size, self.max_bytes
                )
                return False
            self._entries[key] = (value, size)
            self._total += size
            while len(self._entries) > self.max_entries or self._total > self.max_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)
                logger.debug("evicted %s", oldest[:12])
        return True

    def get_or_create(self, key: str, factory: Callable[[], V]) -> V:
        """The value under ``key``, made by ``factory`` if missing. Threads asking for the same
        key at once wait for one call of ``factory`` (unless its value is too large to keep);
        other keys are not blocked meanwhile."""
        value = self.get(key)
        if value is not None:
            return value
        with self._key_lock(key):
            value = self.get(key)
            if value is None:
                value = factory()
                self.put(key, value)
            return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._total = 0

    def _remove(self, key: str) -> None:
        """Drop ``key`` if present; the caller holds ``self._lock``."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry[1]

    @contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """Hold the lock of ``key``; it is forgotten when no thread uses it any more."""
        with self._lock:
            lock, users = self._key_locks.get(key, (threading.Lock(), 0))
            self._key_locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._key_locks[key]
                if users == 1:
                    del self._key_locks[key]
                else:
                    self._key_locks[key] = (lock, users - 1)
