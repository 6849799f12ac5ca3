"""The app's temporary folder: every conversation's result files and Gradio's uploads and served
copies live under it, so that nothing stays behind when the server ends.

It is removed when the server exits or receives SIGTERM; a server killed outright (SIGKILL, the
kernel's out-of-memory killer) cannot clean up, so every start removes the folders of servers
whose process is gone (the folder's name holds the process id).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from videolisa.outputs import folder_bytes

logger = logging.getLogger(__name__)

PREFIX = "videolisa-app-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


class AppFolder:
    """A new folder ``<root>/videolisa-app-<pid>-<random>``, after removing stale ones."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or tempfile.gettempdir())
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_folders(self.root)
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root))

    @property
    def gradio(self) -> Path:
        """Where Gradio keeps uploads and the files it serves (``GRADIO_TEMP_DIR``)."""
        return self.path / "gradio"

    @property
    def chats(self) -> Path:
        """Where conversations keep their result files: inside Gradio's folder, so that Gradio
        serves them without copying them (and without deleting them on its own schedule)."""
        return self.gradio / "videolisa-chats"

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def remove_at_exit(self) -> None:
        """Remove the folder when the process exits, SIGTERM and SIGHUP included."""
        atexit.register(self.remove)
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, _exit)

    def nbytes(self) -> int:
        """Bytes of the files under the folder."""
        return folder_bytes(self.path)


def remove_stale_folders(root: Path) -> int:
    """Remove the app folders under ``root`` whose server process is gone; how many."""
    removed = 0
    for folder in root.glob(f"{PREFIX}*"):
        match = _NAME.match(folder.name)
        if match and folder.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        logger.info("removed %d folders of servers that are gone", removed)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _exit(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)
