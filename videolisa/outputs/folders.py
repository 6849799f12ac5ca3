"""Where a result goes: an output folder checked before any work, its size on disk, its zip."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from videolisa.errors import UserInputError

MIN_FREE_BYTES = 1 << 20  # an output folder on a disk with less free space is refused
MASKS_ZIP = "masks.zip"


def check_output_folder(out: str | Path) -> Path:
    """Make sure a result can be written to ``out`` before any work (nothing is created: the
    folder appears with the result).

    Raises:
        UserInputError: ``out`` is a file, or the folder it would be made in cannot be written
            (read-only, no permission), or its disk is full; the message names it and the fix.
    """
    folder = Path(out)
    fix = "Pass --out a folder you can write to (it is created if missing)."
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        what = "The output" if existing == folder else "Its parent"
        raise UserInputError(f"{what} {existing} is a file, not a folder.", fix)
    try:  # a real write: permissions, read-only mounts and quotas all show
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=existing))
    except OSError as error:
        raise UserInputError(
            f"Cannot write to the output folder {folder} ({error.strerror or error}).", fix
        ) from error
    if shutil.disk_usage(existing).free < MIN_FREE_BYTES:
        raise UserInputError(f"The disk of the output folder {folder} is full.", fix)
    return folder


def write_failure(error: OSError, folder: Path) -> UserInputError:
    """A user-facing error for a write that failed half-way (the disk filled up, say)."""
    problem = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return UserInputError(
        f"Writing the result to {folder} failed: {problem}.",
        "Free some space or pass --out another folder, then run the command again.",
    )


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it is gone); folders and files removed while
    it counts (another thread closing a conversation) are left out."""
    total = 0
    for root, _dirs, files in os.walk(folder):  # os.walk skips what vanishes meanwhile
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:  # removed meanwhile
                continue
    return total


def zip_result(folder: Path) -> Path:
    """``folder/masks.zip`` holding ``masks/<track>/<frame>.png`` and ``result.json`` (the
    layout of ``segment --out``)."""
    target = folder / MASKS_ZIP
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for png in sorted((folder / "masks").rglob("*.png")):
            archive.write(png, png.relative_to(folder).as_posix())
        archive.write(folder / "result.json", "result.json")
    return target
