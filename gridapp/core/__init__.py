"""Pure computation on AnnData / numpy / pandas: no Dash, no cache files.

Importing this package chooses a writable numba cache (:mod:`gridapp.core.numba_cache`) before anything
imports numba, and arranges for :mod:`gridapp.core.compat` to be applied just before the first import of
a package it adapts (pySCENIC, arboreto, ctxcore, loompy, distributed, scanpy, UMAP, pynndescent). It is
not applied at once because it imports pandas, anndata, dask and numba, which a light import (the CLI's
``--help``, the settings) does not need.
"""

from __future__ import annotations

import importlib
import sys
from importlib.abc import MetaPathFinder

from gridapp.core import numba_cache as _numba_cache  # noqa: F401  (must precede numba imports)
from gridapp.core.errors import GridappError

__all__ = ["GridappError"]

#: top-level packages that need :mod:`gridapp.core.compat` in place before they are imported
ADAPTED = frozenset({"pyscenic", "arboreto", "ctxcore", "loompy", "distributed", "scanpy", "umap", "pynndescent"})


class _CompatFirst(MetaPathFinder):
    """Applies :mod:`gridapp.core.compat` once, when one of :data:`ADAPTED` is about to be imported.

    It finds no module itself: it removes itself, imports ``compat`` (which imports none of
    :data:`ADAPTED`) and lets the usual finders import the package.
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in ADAPTED and self in sys.meta_path:
            sys.meta_path.remove(self)
            importlib.import_module("gridapp.core.compat")


if "gridapp.core.compat" not in sys.modules and not any(name in sys.modules for name in ADAPTED):
    sys.meta_path.insert(0, _CompatFirst())
else:  # one of them was imported before gridapp (by the caller): adapt what is there now
    importlib.import_module("gridapp.core.compat")
