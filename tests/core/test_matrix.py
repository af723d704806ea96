"""Dense/sparse helpers shared by the inference methods."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gridapp.core.matrix import dense, standardise


def test_dense_gives_the_same_array_from_sparse_and_dense_input_with_the_asked_type():
    values = np.array([[0, 2], [3, 0]], dtype=np.int32)
    for matrix in (values, sp.csr_matrix(values), sp.csc_array(values)):
        out = dense(matrix, np.float64)
        assert isinstance(out, np.ndarray) and out.dtype == np.float64
        np.testing.assert_array_equal(out, values)
    assert dense(values) is values  # already dense, same type: no copy


def test_standardise_gives_zero_mean_unit_variance_columns_and_zeros_for_constant_ones():
    x = np.array([[1.0, 5.0], [2.0, 5.0], [6.0, 5.0]])
    out = standardise(x)
    np.testing.assert_allclose(out[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(out[:, 0].std(), 1)
    np.testing.assert_array_equal(out[:, 1], 0)
