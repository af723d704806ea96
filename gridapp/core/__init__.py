"""Pure computation on AnnData / numpy / pandas: no Dash, no cache files.

Importing this package applies :mod:`gridapp.core.compat` before anything imports pySCENIC.
"""

from __future__ import annotations

from gridapp.core import compat as _compat  # noqa: F401  (must precede pySCENIC imports)
from gridapp.core.errors import GridappError

__all__ = ["GridappError"]
