"""On/off thresholds equal pySCENIC's ``binarize``: its dip statistic, its simulated p-value, its thresholds.

pySCENIC's dip test is pure Python (seconds per regulon), so the reference runs on real AUC matrices of
modest size: every regulon of the demo donor and of the HNSCC sample shipped with pySCENIC, and five
regulons of all Kang cells (``benchmarks/bench_binarize.py`` compares all 150).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from ctxcore.genesig import GeneSignature
from pyscenic.binarization import derive_threshold
from pyscenic.diptest import _gcm_, _lcm_, dip_fn, diptst

from gridapp.core.aucell import auc_threshold_of, aucell, binarize
from gridapp.core.dip import _bin_uniform, _binned_dip_bound, _fill_uniform, _gcm, _lcm, dip, dip_p_value, is_bimodal
from gridapp.core.io import read_dataset
from gridapp.core.priors import read_prior
from gridapp.core.regulons import prior_regulons
from gridapp.jobs.params import DEMO_DIR
from tests.conftest import PYSCENIC_RESOURCES, shared

SEED = 7  # pySCENIC seeds its dip test only for a nonzero seed


@pytest.fixture(scope="module")
def demo_auc() -> pd.DataFrame:
    """AUC of the demo donor (1,045 cells) for the demo prior's TFs with at least 15 targets in the data."""
    adata, _ = read_dataset(DEMO_DIR / "kang2018_donor1016.h5ad")
    return aucell(
        adata,
        prior_regulons(
            read_prior(DEMO_DIR / "dorothea_ABC_kang.tsv", confidence=("A", "B", "C")),
            set(adata.var_names),
            min_targets=15,
        ),
        seed=0,
    )


@pytest.fixture(scope="module")
def hnscc_auc() -> pd.DataFrame:
    """AUC of pySCENIC's HNSCC sample (100 cells) for the first 12 signatures of its GMT."""
    adata, _ = read_dataset(PYSCENIC_RESOURCES / "GSE103322.em.hgnc.sample.cxg.csv")
    gmt = str(PYSCENIC_RESOURCES / "c6.all.v6.1.symbols.gmt")
    signatures = GeneSignature.from_gmt(gmt, field_separator="\t", gene_separator="\t")[:12]
    return aucell(adata, signatures, auc_threshold=0.05, seed=42)


@pytest.fixture(scope="module")
def kang_auc() -> pd.DataFrame:
    """AUC of every Kang cell (8,684) for DoRothEA A–C regulons with at least 10 targets in the data."""
    adata, _ = read_dataset(shared("singlecell/kang2018_muscat_ref_5donors.h5ad"))
    return aucell(
        adata,
        prior_regulons(
            read_prior(shared("priors/dorothea_hs.tsv.gz"), confidence=("A", "B", "C")),
            set(adata.var_names),
            min_targets=10,
        ),
        seed=0,
    )


def _pyscenic_dip(values: np.ndarray) -> float:
    return float(dip_fn(np.sort(values), just_dip=True))


def _assert_binarize_equals_pyscenic(auc: pd.DataFrame, columns: list[str]) -> None:
    """Our ``binarize`` of the whole matrix against pySCENIC's ``derive_threshold`` (its ``binarize``'s work) of
    ``columns``: the same floats, not just close, and the same calls."""
    adata = ad.AnnData(np.zeros((len(auc), 1), dtype=np.float32), obs=pd.DataFrame(index=auc.index))
    adata.obsm["X_aucell"] = auc
    adata.uns["aucell"] = {"regulons": list(auc.columns)}
    ours = binarize(adata, seed=SEED)
    expected = pd.Series({name: derive_threshold(auc, name, seed=SEED) for name in columns})
    assert ours[columns].to_list() == expected.to_list()
    calls = adata.obsm["X_aucell_binary"][columns]
    assert calls.equals((auc[columns] > expected).astype(calls.dtypes.iloc[0]))


def _spread(auc: pd.DataFrame, n: int) -> list[str]:
    """``n`` regulons from the fewest to the most distinct AUC values (pySCENIC's cost grows with them)."""
    by_size = sorted(auc.columns, key=lambda name: auc[name].nunique())
    return [by_size[i] for i in np.linspace(0, len(by_size) - 1, n).round().astype(int)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 12, 40, 300])
def test_dip_equals_pyscenic_on_samples_with_and_without_ties(size):
    rng = np.random.default_rng(size)
    samples = [
        rng.uniform(size=size),
        rng.normal(size=size),
        np.round(rng.exponential(size=size), 1),  # ties
        np.r_[np.zeros(3 * size), rng.uniform(size=size)],  # mostly zeros, as AUC of a rarely active regulon
        rng.integers(0, 6, size=size).astype(float),  # few distinct values
        np.full(size, 0.25),  # all identical
        np.r_[rng.normal(0, 1, size), rng.normal(5, 1, size)],
    ]
    for values in samples:
        assert dip(values) == _pyscenic_dip(values)


def test_dip_equals_pyscenic_on_real_auc(demo_auc, hnscc_auc):
    for auc in (demo_auc, hnscc_auc):
        for name in auc.columns:
            assert dip(auc[name].to_numpy()) == _pyscenic_dip(auc[name].to_numpy()), name


def test_p_value_equals_pyscenic_including_near_the_level():
    # mixtures of two normals whose p-values (seed 3) range from clearly bimodal over ~0.05 to unimodal
    rng = np.random.default_rng(4)
    found = []
    for separation in (0.0, 2.2, 2.6, 2.8, 3.0, 4.0):
        values = np.r_[rng.normal(0, 1, 150), rng.normal(separation, 1, 150)]
        np.random.seed(3)
        _, expected, _ = diptst(np.sort(values))
        assert dip_p_value(values, seed=3) == expected
        assert is_bimodal(values, seed=3) == (expected <= 0.05)
        found.append(expected)
    assert min(found) < 0.05 < max(found)


def test_null_samples_are_numpys_legacy_uniform_stream():
    expected = np.random.RandomState(SEED).uniform(size=3001)
    _, key, pos, *_ = np.random.RandomState(SEED).get_state(legacy=True)
    key, drawn = np.array(key, dtype=np.uint32), np.empty(3001)
    pos = _fill_uniform(key, int(pos), drawn[:700])  # in pieces crossing the generator's 312-double blocks
    _fill_uniform(key, pos, drawn[700:])
    assert np.array_equal(drawn, expected)
    _, key, pos, *_ = np.random.RandomState(SEED).get_state(legacy=True)
    filled = np.zeros(64, dtype=np.int64)
    _bin_uniform(np.array(key, dtype=np.uint32), int(pos), 3001, 27 - 6, filled)
    assert np.array_equal(filled, np.bincount((expected * 64).astype(int), minlength=64))


def test_the_bound_that_skips_null_samples_is_never_below_their_dip():
    rng = np.random.default_rng(5)
    for size in (5, 6, 9, 30, 100, 1000, 3000):
        for bins in (8, 64, 4096):
            for _ in range(10):
                row = rng.uniform(size=size)
                filled = np.bincount((row * bins).astype(int), minlength=bins)
                assert _binned_dip_bound(filled, size) >= dip(row)


def test_convex_minorant_and_concave_majorant_equal_pyscenics_on_collinear_points():
    # equally spaced positions with equal counts put many points exactly on the hull: pySCENIC's rounded
    # slopes decide which of them are touchpoints
    rng = np.random.default_rng(6)
    for trial in range(300):
        n = int(rng.integers(2, 200))
        positions = np.arange(n) / 37.0 if trial % 2 else np.unique(rng.integers(0, 3 * n, n)) / (3.0 * n)
        counts = rng.choice([1.0, 1.0, 2.0, 5.0], size=len(positions)) if trial % 3 else np.ones(len(positions))
        cdf = np.cumsum(counts) / counts.sum()
        n = len(positions)
        out, touchpoints = np.empty(n), np.empty(n, dtype=np.int64)
        found = _gcm(cdf - counts / counts.sum(), positions, out, touchpoints)
        expected, expected_touchpoints = _gcm_(cdf - counts / counts.sum(), positions)
        assert np.array_equal(out, expected) and np.array_equal(touchpoints[:found], expected_touchpoints)
        found = _lcm(cdf, positions, out, touchpoints, np.empty(n), np.empty(n))
        expected, expected_touchpoints = _lcm_(cdf, positions)
        assert np.array_equal(out, expected) and np.array_equal(touchpoints[:found], expected_touchpoints)


def test_at_most_four_distinct_values_have_no_p_value_and_are_unimodal():
    values = np.repeat([0.0, 0.1, 0.2, 0.9], 50)
    np.random.seed(1)
    assert diptst(np.sort(values))[1] is None
    assert dip_p_value(values, seed=1) is None and not is_bimodal(values, seed=1)
    assert auc_threshold_of(values, seed=1) == values.mean() + 2.0 * values.std()


def test_binarize_equals_pyscenic_on_the_demo(demo_auc):
    _assert_binarize_equals_pyscenic(demo_auc, list(demo_auc.columns))


def test_binarize_equals_pyscenic_on_the_hnscc_sample(hnscc_auc):
    _assert_binarize_equals_pyscenic(hnscc_auc, list(hnscc_auc.columns))


@pytest.mark.needs_shared
def test_binarize_equals_pyscenic_on_every_kang_cell(kang_auc):
    _assert_binarize_equals_pyscenic(kang_auc, _spread(kang_auc, 5))


def test_seed_zero_gives_the_same_thresholds_every_time(demo_auc):
    adata = ad.AnnData(np.zeros((len(demo_auc), 1), dtype=np.float32), obs=pd.DataFrame(index=demo_auc.index))
    adata.obsm["X_aucell"] = demo_auc
    adata.uns["aucell"] = {}
    first = binarize(adata, seed=0)
    assert binarize(adata, seed=0).equals(first)
    assert [dip_p_value(demo_auc[name].to_numpy(), seed=0) for name in demo_auc.columns] == [
        dip_p_value(demo_auc[name].to_numpy(), seed=0) for name in demo_auc.columns
    ]
