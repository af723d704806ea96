"""The one gate for every file a request names, and uploads kept by content in their uploader's space.

A server reads a file only after :meth:`FileGate.file` (or :meth:`FileGate.folder`) has passed it: the
path, symlinks resolved, must lie under one of the gate's roots (the data roots and the caller's own
upload space) and be a regular file no larger than the gate's cap. The checks look at names and
``stat`` only, so a request naming ``/dev/zero``, a FIFO or a file outside the roots is refused before
anything opens, hashes or loads it, and the answer for a path outside the roots is the same whether
it exists or not.

Uploads are stored as ``<uploads>/<space>/<sha256>/<name>``: a user's space is theirs alone (see
:mod:`gridapp.app.access`), and a stored upload is never replaced, so the bytes behind an upload's
path, and the cache key computed from them, never change.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gridapp.core.atomic import write_atomically
from gridapp.core.errors import GridappError
from gridapp.core.io import expanded_bytes
from gridapp.jobs.params import file_version

#: longest file name an upload is stored under (extension kept)
MAX_NAME = 80
#: hex digits of an upload's content hash in its folder name
UPLOAD_HASH = 32
OUTSIDE_HINT = "Choose a file listed in the menu."


@dataclass(frozen=True)
class FileGate:
    """The files a caller may have the server read.

    Attributes
    ----------
    roots
        Folders (resolved) whose regular files may be read: the data roots and the caller's upload space.
    max_bytes
        Largest file that may be read; ``None``: no cap.
    max_dataset_bytes
        Largest dataset once read and decompressed (:func:`~gridapp.core.io.expanded_bytes`); ``None``: no cap.
    """

    roots: tuple[Path, ...]
    max_bytes: int | None = None
    max_dataset_bytes: int | None = None

    @classmethod
    def over(
        cls, roots: Iterable[str | Path], *, max_bytes: int | None = None, max_dataset_bytes: int | None = None
    ) -> FileGate:
        """A gate over ``roots`` (resolved now; a root that does not exist yet still counts)."""
        return cls(tuple(Path(root).resolve() for root in roots), max_bytes, max_dataset_bytes)

    def file(self, path: object, what: str = "file") -> Path:
        """``path`` resolved, when it is a regular file under the roots within the size cap.

        Parameters
        ----------
        path
            What the request said; anything but a non-empty string is refused.
        what
            What the file is for (``prior``, ``TF list``), named in the message.

        Raises
        ------
        GridappError
            Outside the roots (the same message whether or not the path exists), not a regular file,
            or over the cap.
        """
        resolved = self._inside(path, what)
        try:
            info = resolved.stat()
        except OSError as err:
            raise GridappError(f"{resolved.name}: no such {what}.", OUTSIDE_HINT) from err
        if not stat.S_ISREG(info.st_mode):
            raise GridappError(f"{resolved.name}: the {what} is not a regular file.", OUTSIDE_HINT)
        if self.max_bytes is not None and info.st_size > self.max_bytes:
            raise GridappError(
                f"{resolved.name}: {info.st_size / 2**20:,.0f} MB is over this server's "
                f"{self.max_bytes / 2**20:,.0f} MB limit for a {what}.",
                "Subset the data first, or ask the administrator to raise GRIDAPP_MAX_FILE_MB.",
            )
        return resolved

    def dataset(self, path: object) -> Path:
        """:meth:`file` for an expression dataset, which must also unpack within :attr:`max_dataset_bytes`
        (told from its metadata, so a decompression bomb is refused before it is loaded)."""
        resolved = self.file(path, "dataset")
        if self.max_dataset_bytes is not None:
            size = _expanded(file_version(resolved), self.max_dataset_bytes)
            if size > self.max_dataset_bytes:
                raise GridappError(
                    f"{resolved.name}: unpacks to {size / 2**20:,.0f} MB or more in memory, over this server's "
                    f"{self.max_dataset_bytes / 2**20:,.0f} MB limit for a dataset.",
                    "Subset it (fewer cells or genes) first, or ask the administrator to raise GRIDAPP_MAX_DATASET_MB.",
                )
        return resolved

    def files(self, paths: object, what: str = "file") -> tuple[Path, ...]:
        """:meth:`file` for each of a list of paths (a single string counts as a one-item list)."""
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list | tuple):
            raise GridappError(f"The {what} choice is not a list of files.", OUTSIDE_HINT)
        return tuple(self.file(path, what) for path in paths)

    def folder(self, path: object, what: str = "folder") -> Path:
        """``path`` resolved, when it is a folder under the roots whose files all pass :meth:`file`."""
        resolved = self._inside(path, what)
        if not resolved.is_dir():
            raise GridappError(f"{resolved.name}: no such {what}.", OUTSIDE_HINT)
        for child in resolved.rglob("*"):
            if not child.is_dir():
                self.file(child, f"file in the {what}")
        return resolved

    def _inside(self, path: object, what: str) -> Path:
        if not isinstance(path, str | Path) or not str(path):
            raise GridappError(f"No {what} was chosen.", OUTSIDE_HINT)
        try:
            resolved = Path(path).resolve()
        except (OSError, ValueError, RuntimeError) as err:  # NUL bytes, symlink loops
            raise GridappError(f"That {what} is outside the data folders.", OUTSIDE_HINT) from err
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise GridappError(f"{Path(path).name}: the {what} is outside the data folders.", OUTSIDE_HINT)
        return resolved


def safe_name(name: str) -> str:
    """A file-name-safe version of ``name``: ASCII letters, digits and ``._+-`` (others become ``_``),
    no leading dot, at most :data:`MAX_NAME` characters with the extension (``.h5ad``, ``.csv.gz``) kept."""
    clean = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).lstrip(".") or "file"
    if len(clean) <= MAX_NAME:
        return clean
    suffix = "".join(Path(clean).suffixes[-2:])[-20:]
    return clean[: MAX_NAME - len(suffix)] + suffix


def store_upload(space: Path, filename: str, payload: bytes, validate: Callable[[Path], None]) -> Path:
    """Keep ``payload`` as ``space/<sha256>/<safe filename>`` once ``validate`` has accepted it.

    Parameters
    ----------
    space
        The uploader's own folder.
    filename
        The name the user gave it (made safe; only the last path part counts).
    payload
        The file's bytes.
    validate
        Called on the bytes written to a hidden scratch file; raises :class:`GridappError` to refuse
        them (the scratch file is removed either way).

    Returns
    -------
    The stored file's path. The same bytes under the same name are stored once; a stored upload is
    never replaced.
    """
    name = safe_name(Path(str(filename)).name)
    digest = hashlib.sha256(payload).hexdigest()[:UPLOAD_HASH]
    path = space / digest / name
    if path.is_file():
        return path
    space.mkdir(parents=True, exist_ok=True)

    def write(scratch: Path) -> None:
        scratch.write_bytes(payload)
        validate(scratch)

    return write_atomically(path, write, within=space)  # no digest folder for a refused upload


@lru_cache(maxsize=64)
def _expanded(version: tuple, cap: int) -> int:
    """:func:`expanded_bytes`, memoised per :func:`~gridapp.jobs.params.file_version` (the dashboard asks on
    every form change)."""
    return expanded_bytes(Path(version[0]), cap)
