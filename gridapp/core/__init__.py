"""Pure computation on AnnData / numpy / pandas: no Dash, no cache files.

Importing this package chooses a writable numba cache (:mod:`gridapp.core.numba_cache`) before anything
imports numba, and arranges for :mod:`gridapp.core.compat` to be applied just before the first import of
a package it adapts (pySCENIC, arboreto, ctxcore, loompy, distributed, scanpy, UMAP, pynndescent). It is
not applied at once because it imports pandas, anndata, dask and numba, which a light import (the CLI's
``--help``, the settings) does not need.

It also has numba cache on disk the kernels that pySCENIC, loompy and UMAP compile without numba's cache
(:data:`UNCACHED_KERNELS`): pySCENIC's ``math`` and loompy's ``bus_file`` when they are imported (pySCENIC's
YAML and loom writers import both), UMAP's on its first embedding. Without it every process that wrote or
embedded a result compiled them again: about 4 CPU seconds to import the writers and 6 for the first UMAP on
2 cores; from the second process on, a fraction of a second.
"""

from __future__ import annotations

import importlib
import sys
from functools import partial
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

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


#: modules whose numba kernels are compiled without numba's on-disk cache (when imported, or at their first call)
UNCACHED_KERNELS = frozenset({"pyscenic.math", "loompy.bus_file", "umap.umap_", "umap.layouts", "umap.utils"})


class _CachedKernels(MetaPathFinder):
    """Finds :data:`UNCACHED_KERNELS` as the usual finders do, to be executed by a :class:`_CachingLoader`."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if fullname not in UNCACHED_KERNELS:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _CachingLoader(spec.loader)
        return spec


class _CachingLoader(Loader):
    """Executes a module with numba's ``jit`` and ``njit`` given ``cache=True``; otherwise its own loader."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> object:  # get_source, get_filename, ... of the source file's loader
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import numba

        jit, njit = numba.jit, numba.njit
        numba.jit, numba.njit = partial(jit, cache=True), partial(njit, cache=True)
        try:
            self.loader.exec_module(module)
        finally:
            numba.jit, numba.njit = jit, njit


sys.meta_path.insert(0, _CachedKernels())
if "gridapp.core.compat" not in sys.modules and not any(name in sys.modules for name in ADAPTED):
    sys.meta_path.insert(0, _CompatFirst())
else:  # one of them was imported before gridapp (by the caller): adapt what is there now
    importlib.import_module("gridapp.core.compat")
