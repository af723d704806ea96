"""The one place that adapts pySCENIC / arboreto / ctxcore to the pinned numpy, pandas and anndata.

pySCENIC 0.12.1 still uses ``np.object``, ``np.float`` and ``pd.Series.iteritems``, all removed
from numpy 1.24 and pandas 2.0, and reads an ``.h5ad`` expression file (``pyscenic grn/aucell x.h5ad``)
through the ``value`` property that anndata's backed sparse matrices no longer have. :func:`apply`
restores exactly those attributes, as aliases of what they always meant, and must run before pySCENIC
is imported; importing :mod:`gridapp.core` does that, and Dask workers run it through
:class:`gridapp.core.parallel.CompatPlugin`. ``tests/core/test_compat.py`` fails when a
restoration is no longer needed (the attribute is back upstream) or no longer makes pySCENIC work.

Numba's parallel kernels (scanpy, pynndescent, UMAP) are told to use the ``workqueue`` threading
layer: its default OpenMP layer kills a process that forks after using it, and gridapp forks
(Dash background jobs, pySCENIC's worker processes, Dask's resource tracker).

It also turns off dask's automatic conversion of object columns to pyarrow strings, which would
turn the (gene, weight) tuples of pySCENIC's ``TargetGenes`` column into their text, and silences the
warning ctxcore prints when it is imported (it uses setuptools' deprecated ``pkg_resources``) and the one
pandas prints for every loom pySCENIC writes: a user can do nothing about them, and they would come before
every message of the CLI and in the server's log after every run.
"""

from __future__ import annotations

import warnings

import dask
import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata.abc import CSCDataset, CSRDataset


def _in_memory(dataset: CSRDataset | CSCDataset) -> sp.spmatrix | sp.sparray:
    """A backed sparse matrix read into memory: what its ``value`` property returned in earlier anndata."""
    return dataset.to_memory()


#: (owner, attribute name, replacement) for every attribute pySCENIC needs and the pins lack.
RESTORATIONS: tuple[tuple[object, str, object], ...] = (
    (np, "object", object),
    (np, "float", float),
    (pd.Series, "iteritems", pd.Series.items),
    (CSRDataset, "value", property(_in_memory)),
    (CSCDataset, "value", property(_in_memory)),
)
#: Dask settings pySCENIC's Dask graphs need.
DASK_CONFIG = {"dataframe.convert-string": False}
#: A numba threading layer that survives fork().
NUMBA_THREADING_LAYER = "workqueue"
#: The start of the warning ctxcore's import gives.
PKG_RESOURCES_WARNING = "pkg_resources is deprecated as an API"
#: The start of the warning pandas 2.2 gives for each loom pySCENIC's ``export2loom`` writes (its ``replace``).
DOWNCASTING_WARNING = "Downcasting behavior in `replace` is deprecated"


def apply() -> list[str]:
    """Restore the removed attributes pySCENIC 0.12.1 uses.

    Returns
    -------
    The dotted names of the attributes that were missing and are now restored (empty when
    called a second time).
    """
    dask.config.set(DASK_CONFIG)
    warnings.filterwarnings("ignore", message=PKG_RESOURCES_WARNING, category=UserWarning)
    warnings.filterwarnings("ignore", message=DOWNCASTING_WARNING, category=FutureWarning, module="pyscenic")
    numba.config.THREADING_LAYER = NUMBA_THREADING_LAYER
    restored = []
    for owner, name, replacement in RESTORATIONS:
        if name not in vars(owner):
            setattr(owner, name, replacement)
            restored.append(f"{owner.__name__}.{name}")
    return restored


RESTORED = apply()
