"""Atomic writes: a file or folder appears whole, or not at all, and a failed write leaves nothing behind.

Every store of the project writes through here: a hidden scratch file or folder beside the target (same
file system, so the final rename is atomic), removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_beside(path: Path, *, folder: bool = False, within: Path | None = None) -> Iterator[Path]:
    """A hidden scratch path named after ``path`` (``.STEM.partial-HEX.SUFFIX``: readers that go by the suffix
    still know the format) in ``within`` (default: ``path``'s folder), an empty folder when ``folder``; it is
    removed when the block ends, unless it was renamed."""
    scratch = (within or path.parent) / f".{path.stem}.partial-{uuid.uuid4().hex[:12]}{path.suffix}"
    if folder:
        scratch.mkdir()
    try:
        yield scratch
    finally:
        if scratch.is_dir() and not scratch.is_symlink():
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            scratch.unlink(missing_ok=True)


def leftovers(path: Path) -> list[Path]:
    """The scratch paths of ``path`` that a writer killed half-way (SIGKILL, power loss) left behind."""
    return sorted(path.parent.glob(f".{path.stem}.partial-*{path.suffix}"))


def write_atomically(path: Path, write: Callable[[Path], object], *, within: Path | None = None) -> Path:
    """Call ``write(scratch)``, then put the scratch file in ``path``'s place (replacing an older file).

    Parameters
    ----------
    path
        The file to write; its folder is created if missing (with ``within``: only once the write succeeded).
    write
        Writes the whole file to the path it is given; an exception leaves ``path`` as it was.
    within
        Where the scratch file lives (default: ``path``'s folder; same file system as ``path``).
    """
    if within is None:
        path.parent.mkdir(parents=True, exist_ok=True)  # the scratch file lives there
    with scratch_beside(path, within=within) as scratch:
        write(scratch)
        if within is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch, path)
    return path


def store_folder_once(folder: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(scratch_folder)``, then rename the scratch folder to ``folder``; when ``folder`` appeared
    meanwhile (an identical job finished first) that one is kept and the new one dropped."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with scratch_beside(folder, folder=True) as scratch:
        write(scratch)
        try:
            scratch.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    return folder


def replace_folder(folder: Path, scratch: Path) -> None:
    """Put the complete folder ``scratch`` in ``folder``'s place, removing the earlier ``folder`` only once the
    new one is in place."""
    if not folder.exists():
        scratch.rename(folder)
        return
    with scratch_beside(folder, folder=False) as earlier:
        folder.rename(earlier)
        scratch.rename(folder)
