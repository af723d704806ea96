"""Correlation and mutual-information baselines against numpy, scipy and scikit-learn."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr
from sklearn.metrics import mutual_info_score

from gridapp.core.methods import infer
from gridapp.core.methods import statistics as stats


@pytest.fixture(scope="module")
def data() -> ad.AnnData:
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(0.5, 2.0, (1, 30)), (150, 30)).astype(np.float32)  # many ties, many zeros
    counts[:, 5] = counts[:, 0] * 2 + rng.poisson(0.5, 150)  # G5 follows TF G0
    counts[:, 7] = 0  # a gene never expressed
    return ad.AnnData(np.log1p(counts), var=pd.DataFrame(index=[f"G{i}" for i in range(30)]))


def _matrix(frame: pd.DataFrame, tfs: list[str], genes: list[str]) -> np.ndarray:
    return frame.pivot(index="TF", columns="target", values="importance").loc[tfs, genes].to_numpy()


def test_correlations_equal_numpy_and_scipy(data):
    tfs, genes = ["G0", "G1", "G2"], list(data.var_names)
    pearson = _matrix(stats.pearson(data, tfs), tfs, genes)
    spearman = _matrix(stats.spearman(data, tfs), tfs, genes)
    expected = np.abs(np.nan_to_num(np.corrcoef(data.X.T)))[:3]
    rho = np.abs(np.nan_to_num(spearmanr(data.X).statistic))[:3]
    np.testing.assert_allclose(pearson, expected, atol=1e-10)
    np.testing.assert_allclose(spearman, rho, atol=1e-10)
    assert pearson[0, 5] > 0.5 and np.all(pearson[:, 7] == 0)


def test_mutual_information_equals_scikit_learn_on_the_same_bins(data):
    tfs, genes = ["G0", "G3"], list(data.var_names)
    mi = _matrix(stats.mutual_information(data, tfs), tfs, genes)
    codes = stats.discretise(np.asarray(data.X, dtype=np.float64))
    for i, tf in enumerate(tfs):
        expected = [mutual_info_score(codes[:, int(tf[1:])], codes[:, j]) for j in range(len(genes))]
        np.testing.assert_allclose(mi[i], expected, atol=1e-9)
    assert mi[0, 5] > 5 * np.median(mi[0]) and mi[0, 7] == 0


def test_sparse_input_gives_the_dense_result_and_methods_are_registered(data):
    sparse = ad.AnnData(sp.csr_matrix(data.X), var=data.var)
    for method in ("pearson", "spearman", "mi"):
        dense_edges = infer(data, ["G0", "G1"], method=method)
        sparse_edges = infer(sparse, ["G0", "G1"], method=method)
        pd.testing.assert_frame_equal(dense_edges, sparse_edges)
        assert not (dense_edges["TF"] == dense_edges["target"]).any() and len(dense_edges) == 2 * 29
