"""A writable numba cache folder, chosen before numba is imported.

gridapp's kernels are compiled with ``@njit(cache=True)``. Numba caches into ``NUMBA_CACHE_DIR``, else
beside the source or in its user-wide folder, and fails at import when it can write to none of them: a
read-only install run as another user (a Docker image) with an unusable ``NUMBA_CACHE_DIR``.
:func:`choose` keeps a writable ``NUMBA_CACHE_DIR``, else sets it to ``gridapp/numba`` in the user's
cache folder or, when that cannot be written either, to a new private temporary folder (never a shared
one: numba loads its cache index with pickle). Processes started later (Dask workers) inherit the choice.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"


def choose() -> Path:
    """Set ``NUMBA_CACHE_DIR`` (and numba's setting, when numba is imported already) to a writable folder.

    Returns
    -------
    The folder chosen.
    """
    folder = next((path for path in _candidates() if _writable(path)), None)
    folder = folder or Path(tempfile.mkdtemp(prefix="gridapp-numba-"))
    os.environ[ENV] = str(folder)
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba was imported first (e.g. by scanpy) and has read the variable already
        config.CACHE_DIR = str(folder)
    return folder


def _candidates() -> Iterator[Path]:
    """The given ``NUMBA_CACHE_DIR``, then ``gridapp/numba`` in the user's cache folder (when there is a home)."""
    if os.environ.get(ENV):
        yield Path(os.environ[ENV])
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"))
    if user_cache.is_absolute():  # "~" stays unexpanded for a user without a home (a container's arbitrary uid)
        yield user_cache / "gridapp" / "numba"


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be created, and a file can be written in it (numba's own test)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


CACHE_DIR = choose()
