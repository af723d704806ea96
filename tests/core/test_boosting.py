"""The GRNBoost2-model engine: binning, planted links, determinism, and agreement with arboreto."""

from __future__ import annotations

import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from distributed import Client
from sklearn.tree import DecisionTreeRegressor

from gridapp.core.methods import infer
from gridapp.core.methods.boosting import (
    MAX_BINS,
    SEGMENT_WORDS,
    WORD,
    bin_features,
    boost_targets,
    grnboost2_fast,
    local_threads,
)
from gridapp.core.parallel import dask_client
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import prepare


def test_binning_is_exact_up_to_max_bins_and_quantile_beyond():
    rng = np.random.default_rng(0)
    few = np.repeat(np.arange(10.0), 30)[:, None]  # 10 distinct values
    many = rng.normal(size=(2000, 1))
    binned = bin_features(few)
    assert sorted(np.unique(binned.bins[0])) == list(range(10)) and binned.base[0] in range(10)
    wide = bin_features(many)
    assert wide.bins.max() == MAX_BINS - 1 and np.all(np.diff(wide.bins[0][np.argsort(many[:, 0])].astype(int)) >= 0)
    sparse = bin_features(np.where(rng.random((300, 1)) < 0.8, 0.0, rng.random((300, 1))))
    unpacked = np.unpackbits(sparse.off_base.view(np.uint8), axis=1, bitorder="little")[:, :300].astype(bool)
    assert sparse.base[0] == 0 and np.array_equal(unpacked[0], sparse.bins[0] != 0)


@pytest.mark.parametrize("compress", [False, True], ids=["bit-walk", "vector-compress"])
def test_one_tree_on_all_features_is_scikit_learns_exact_tree(compress):
    """With every TF searched, no subsample and few distinct values, a tree's gains are an exact CART's,
    whichever way the histograms find a node's cells (the compress runs emulated where the CPU lacks it)."""
    rng = np.random.default_rng(1)
    n_cells = 400
    # modes at the bottom, in the middle and at the top of the range: the base bin on either side of a split
    modes = [0, 0, 4, 9, 9, 2]
    tfs = np.column_stack(
        [np.where(rng.random(n_cells) < 0.6, mode, rng.integers(0, 10, n_cells)) for mode in modes]
    ).astype(np.float64)
    y = np.sin(tfs[:, 2]) + 0.5 * (tfs[:, 3] < 5) + 0.3 * tfs[:, 0] + 0.1 * rng.normal(size=n_cells)
    binned = bin_features(tfs)
    importance, trees = boost_targets(
        binned.arrays,
        y[:, None],
        np.array([0]),
        np.array([-1]),
        0,
        max_features=1.0,
        max_trees=1,
        subsample=1.0,
        compress=compress,
    )
    exact = DecisionTreeRegressor(max_depth=3).fit(tfs, y)
    assert trees[0] == 1
    np.testing.assert_allclose(importance[0], exact.feature_importances_, atol=1e-10)


def test_listing_cells_by_vector_compress_grows_the_trees_of_the_bit_walk_past_a_segment():
    """More cells than one segment of 16-bit positions holds: each segment's cells keep their place."""
    rng = np.random.default_rng(2)
    n_cells = SEGMENT_WORDS * WORD + 3000
    tfs = np.where(rng.random((n_cells, 4)) < 0.7, 0.0, rng.gamma(2.0, 1.0, (n_cells, 4)))
    y = np.log1p(tfs[:, 0]) * (np.arange(n_cells) >= n_cells - 5000) + 0.3 * tfs[:, 1] + rng.normal(size=n_cells)
    binned = bin_features(tfs)
    runs = [
        boost_targets(binned.arrays, y[:, None], np.array([0]), np.array([-1]), 0, max_trees=40, compress=compress)
        for compress in (False, True)
    ]
    assert runs[0][1][0] >= 25
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def _planted(seed: int = 0, n_tfs: int = 12) -> tuple[ad.AnnData, list[str]]:
    """200 cells, ``n_tfs`` TFs; G0..G5 driven by TF0..TF5 (G_i = f(TF_i) + noise), G6..G9 by noise only."""
    rng = np.random.default_rng(seed)
    tfs = rng.gamma(2.0, 1.0, (200, n_tfs))
    drivers = [np.log1p(tfs[:, i] ** 2) + 0.1 * rng.normal(size=200) for i in range(6)]
    targets = np.column_stack([*drivers, rng.normal(size=(200, 4))])
    names = [f"TF{i}" for i in range(n_tfs)] + [f"G{i}" for i in range(10)]
    return ad.AnnData(np.hstack([tfs, targets]).astype(np.float32), var=pd.DataFrame(index=names)), names[:n_tfs]


@pytest.fixture(scope="module")
def cluster():
    with dask_client(n_workers=2) as client:
        yield client


def test_planted_regulators_rank_first(cluster):
    adata, tfs = _planted()
    adjacencies = infer(adata, tfs, method="grnboost2-fast", seed=0, client=cluster)
    best = adjacencies.sort_values("importance", ascending=False).groupby("target")["TF"].first()
    assert all(best[f"G{i}"] == f"TF{i}" for i in range(6))
    per_target = adjacencies.groupby("target")["importance"].sum()
    assert np.allclose(per_target, per_target.round())  # a target's importances add up to its tree count
    assert adjacencies.attrs["trees_per_target"] >= 25  # early stopping looks at a full window first
    assert not (adjacencies["TF"] == adjacencies["target"]).any()


def test_same_seed_same_network_whatever_the_chunks_threads_or_cluster(cluster):
    """Each target draws from its own stream: chunk size, thread count and Dask tasks change nothing."""
    adata, tfs = _planted()
    key = ["TF", "target"]
    runs = [
        grnboost2_fast(adata, tfs, seed=3, client=cluster, chunk=4),  # threads of this process
        grnboost2_fast(adata, tfs, seed=3, threads=1, chunk=32),
        grnboost2_fast(adata, tfs, seed=3, threads=3, chunk=1),
        grnboost2_fast(adata, tfs, seed=3, client=cluster, threads=0, chunk=5),  # Dask tasks on the workers
    ]
    first = runs[0].sort_values(key).reset_index(drop=True)
    for again in runs[1:]:
        pd.testing.assert_frame_equal(first, again.sort_values(key).reset_index(drop=True))
        assert again.attrs == runs[0].attrs
    other = grnboost2_fast(adata, tfs, seed=4, client=cluster, chunk=4)
    assert not np.array_equal(first["importance"], other.sort_values(key)["importance"])


def test_local_work_runs_in_threads_and_a_scheduler_address_gets_tasks(cluster):
    assert local_threads(None) == (os.cpu_count() or 1)
    assert local_threads(cluster) == 2  # the local cluster's 2 single-threaded workers
    with Client(cluster.scheduler.address) as remote:  # reached by address, as a shared pool or another machine
        assert local_threads(remote) == 0


def _top(frame: pd.DataFrame, n: int) -> set[tuple[str, str]]:
    return set(zip(frame["TF"].head(n), frame["target"].head(n)))


@pytest.mark.slow
def test_engine_agrees_with_arboreto_as_arboreto_agrees_with_itself():
    params = RunParams.demo(cell_types=("CD14+ Monocytes", "B cells"), n_top_genes=60)
    adata, coverage, _ = prepare(params, notes=[])
    tfs = list(coverage.present)
    networks = {"engine": infer(adata, tfs, method="grnboost2-fast", seed=0)}  # threads of this process
    for name, seed in (("arboreto0", 0), ("arboreto1", 1)):
        with dask_client(n_workers=2) as client:  # a fresh cluster per arboreto graph (see test_grn.py)
            networks[name] = infer(adata, tfs, method="grnboost2", seed=seed, client=client)
    floor = len(_top(networks["arboreto0"], 500) & _top(networks["arboreto1"], 500)) / 500
    overlap = len(_top(networks["engine"], 500) & _top(networks["arboreto0"], 500)) / 500
    assert overlap >= floor - 0.1, (overlap, floor)
    ratio = networks["engine"].attrs["trees_per_target"] / networks["arboreto0"].attrs["trees_per_target"]
    assert 0.8 < ratio < 1.25, ratio
