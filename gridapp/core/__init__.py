"""Pure computation on AnnData / numpy / pandas: no Dash, no cache files.

Importing this package chooses a writable numba cache (:mod:`gridapp.core.numba_cache`) before anything
imports numba, and applies :mod:`gridapp.core.compat` before anything imports pySCENIC.
"""

from __future__ import annotations

from gridapp.core import numba_cache as _numba_cache  # noqa: F401  (must precede numba imports)

# isort: split
from gridapp.core import compat as _compat  # noqa: F401  (must precede pySCENIC imports)
from gridapp.core.errors import GridappError

__all__ = ["GridappError"]
