"""Small helpers on expression matrices that may be dense or sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike


def dense(matrix: np.ndarray | sp.spmatrix, dtype: DTypeLike | None = None) -> np.ndarray:
    """``matrix`` as a dense array (of ``dtype`` when given; no copy when it already is one).

    Parameters
    ----------
    matrix
        A NumPy array, a SciPy sparse matrix or array, or an array-like (e.g. an h5py dataset view).
    dtype
        Element type of the result; ``None`` keeps the matrix's own.
    """
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=dtype)


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit variance (glmnet's ``standardize``); constant columns become 0."""
    centred = x - x.mean(axis=0)
    sd = centred.std(axis=0)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)
