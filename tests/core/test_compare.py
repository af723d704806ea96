"""Differential regulon activity (donor pseudo-bulk, limma-style moderation, cells), rewiring, reproducibility."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from gridapp.core.compare import (
    CELLS,
    differential_activity,
    donor_t_test,
    moderate_variances,
    reproducibility,
    rewiring,
    trigamma_inverse,
)
from gridapp.core.errors import GridappError


@pytest.fixture
def bulks() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Donor means of 12 regulons: 3 donors in a and b, regulon R0 up by 0.2 in b."""
    rng = np.random.default_rng(0)
    a = pd.DataFrame(rng.normal(0.1, 0.01, (3, 12)), index=["d1", "d2", "d3"]).add_prefix("R")
    b = a + rng.normal(0, 0.01, (3, 12))
    b["R0"] += 0.2
    return a, b


def test_donor_t_tests_are_scipys_without_moderation(bulks):
    a, b = bulks
    t, p = donor_t_test(a, b, paired=True, moderated=False)
    expected = stats.ttest_rel(b, a, axis=0)
    np.testing.assert_allclose(t, expected.statistic)
    np.testing.assert_allclose(p, expected.pvalue)
    t, p = donor_t_test(a.iloc[:2], b, paired=False, moderated=False)  # 2 against 3 donors
    expected = stats.ttest_ind(b, a.iloc[:2], axis=0, equal_var=True)
    np.testing.assert_allclose(t, expected.statistic)
    np.testing.assert_allclose(p, expected.pvalue)


def test_moderation_with_equal_variances_is_a_z_test():
    """Variances that differ no more than sampling explains: the prior has infinite weight (limma's d0 = inf)."""
    moderated, d0 = moderate_variances(np.full(20, 0.04), df=2)
    assert d0 == np.inf
    # limma's s0² for d0 = inf: exp(mean(log s²) - digamma(df/2) + log(df/2)), one value for all
    np.testing.assert_allclose(moderated, 0.04 * np.exp(np.log(1) - special.digamma(1)))
    a = pd.DataFrame(np.tile([[0.0], [0.2]], (1, 20)))  # every regulon: donor values 0, 0.2
    b = a + np.linspace(0, 1, 20)
    t, p = donor_t_test(a, b, paired=False)
    plain_t, _ = donor_t_test(a, b, paired=False, moderated=False)
    np.testing.assert_allclose(t, plain_t * np.sqrt(0.02 / (0.02 * np.exp(-special.digamma(1)))))
    np.testing.assert_allclose(p, 2 * stats.norm.sf(np.abs(t)))


def test_moderation_shrinks_towards_the_common_variance():
    rng = np.random.default_rng(1)
    variances = 0.01 * rng.chisquare(2, 200) / 2 * rng.lognormal(0, 1.0, 200)
    moderated, d0 = moderate_variances(variances, df=2)
    assert 0 < d0 < np.inf
    # posterior = (d0 s0² + df s²) / (d0 + df): one prior s0² for all, each posterior between s² and s0²
    prior = (moderated * (d0 + 2) - 2 * variances) / d0
    np.testing.assert_allclose(prior, prior[0])
    assert np.all((moderated - variances) * (moderated - prior[0]) <= 1e-15)


@pytest.mark.parametrize("x", [1e-3, 0.1, 1.0, 10.0, 1e4])
def test_trigamma_inverse(x):
    assert special.polygamma(1, trigamma_inverse(x)) == pytest.approx(x, rel=1e-6)


def _cells(n_donors: int, *, shift: float = 0.15, paired_donors: bool = False) -> ad.AnnData:
    """30 cells per donor and group of two cell types; regulon UP rises by ``shift`` in group b of type T1."""
    rng = np.random.default_rng(2)
    rows = []
    for group in ("a", "b"):
        for d in range(n_donors):
            donor = f"donor{d}" if paired_donors else f"{group}{d}"
            for cell_type in ("T1", "T2"):
                for _ in range(30):
                    rows.append((group, donor, cell_type))
    obs = pd.DataFrame(rows, columns=["condition", "donor", "cell_type"])
    obs.index = [f"c{i}" for i in range(len(obs))]
    auc = pd.DataFrame(rng.normal(0.2, 0.03, (len(obs), 8)), index=obs.index).add_prefix("FLAT").clip(0, 1)
    up = (obs["condition"] == "b") & (obs["cell_type"] == "T1")
    auc["UP(+)"] = (0.1 + rng.normal(0, 0.02, len(obs)) + shift * up).clip(0, 1)
    adata = ad.AnnData(np.zeros((len(obs), 1), np.float32), obs=obs)
    adata.obsm["X_aucell"] = auc
    return adata


@pytest.mark.parametrize("paired_donors", [False, True])
def test_a_planted_increase_is_found_per_cell_type_with_donors_as_replicates(paired_donors):
    adata = _cells(3, paired_donors=paired_donors)
    table = differential_activity(
        adata, group_key="condition", groups=("a", "b"), cell_type_key="cell_type", donor_key="donor"
    )
    assert set(table["cell_type"]) == {"T1", "T2"} and len(table) == 2 * 9
    up = table.set_index(["cell_type", "regulon"]).loc[("T1", "UP(+)")]
    assert up["delta"] == pytest.approx(0.15, abs=0.02) and up["log2fc"] > 0 and up["qvalue"] < 0.01
    assert (up["n_donors_a"], up["n_donors_b"]) == (3, 3)
    assert ("paired" in up["test"]) == paired_donors
    assert table.loc[table["cell_type"] == "T2", "qvalue"].min() > 0.05


def test_without_donors_the_test_is_on_cells_and_says_so():
    table = differential_activity(_cells(1), group_key="condition", groups=("a", "b"), cell_type_key="cell_type")
    assert set(table["test"]) == {CELLS}
    up = table.set_index(["cell_type", "regulon"]).loc[("T1", "UP(+)")]
    assert up["qvalue"] < 1e-6  # cells as replicates: tiny p, which the test column warns about


def test_a_missing_group_value_is_named():
    with pytest.raises(GridappError, match="'c'"):
        differential_activity(_cells(2), group_key="condition", groups=("a", "c"))


def test_rewiring_counts_gained_lost_and_kept_edges():
    a = pd.DataFrame({"TF": ["T1", "T1", "T2", "T2"], "target": ["x", "y", "x", "z"], "importance": [9, 8, 7, 1.0]})
    b = pd.DataFrame({"TF": ["T1", "T2", "T2", "T1"], "target": ["x", "z", "w", "y"], "importance": [5, 4, 3, 0.5]})
    regulons_a = pd.DataFrame({"regulon": ["T1(+)", "T1(+)", "T2(+)"], "TF": ["T1", "T1", "T2"], "target": list("xyx")})
    regulons_b = pd.DataFrame({"regulon": ["T1(+)", "T3(+)"], "TF": ["T1", "T3"], "target": ["x", "q"]})
    found = rewiring(a, b, threshold=2.0, regulons_a=regulons_a, regulons_b=regulons_b)
    status = dict(zip(zip(found.edges["TF"], found.edges["target"]), found.edges["status"]))
    assert status == {("T1", "x"): "kept", ("T1", "y"): "lost", ("T2", "x"): "lost", ("T2", "z"): "gained",
                      ("T2", "w"): "gained"}  # fmt: skip
    tfs = found.tfs.set_index("TF")
    assert tfs.loc["T1", "jaccard"] == pytest.approx(1 / 2) and tfs.loc["T2", "jaccard"] == 0
    assert (tfs.loc["T2", "targets_a"], tfs.loc["T2", "targets_b"]) == (1, 2)
    regulons = found.regulons.set_index("regulon")
    assert regulons["present"].to_dict() == {"T1(+)": "both", "T2(+)": "a only", "T3(+)": "b only"}
    assert regulons.loc["T1(+)", "jaccard"] == pytest.approx(1 / 2)
    top = rewiring(a, b, top_edges=1)
    assert top.edges["status"].tolist() == ["kept"]
    with pytest.raises(GridappError):
        rewiring(a, b)


def test_reproducibility_counts_donors_and_target_overlap():
    def table(**regulons):
        return pd.DataFrame(
            [(name, name.split("(")[0], t) for name, targets in regulons.items() for t in targets],
            columns=["regulon", "TF", "target"],
        )

    runs = {
        "d1": table(**{"A(+)": "xyz", "B(+)": "xy"}),
        "d2": table(**{"A(+)": "xy"}),
        "d3": table(**{"A(+)": "xyzw", "C(+)": "q"}),
    }
    found = reproducibility(runs).set_index("regulon")
    assert found.index.tolist() == ["A(+)", "B(+)", "C(+)"]
    assert found.loc["A(+)", "fraction"] == 1 and found.loc["A(+)", "found_in"] == 3
    pairs = [2 / 3, 3 / 4, 2 / 4]  # d1-d2, d1-d3, d2-d3
    assert found.loc["A(+)", "mean_jaccard"] == pytest.approx(np.mean(pairs))
    assert found.loc["B(+)", "single_donor"] and found.loc["B(+)", "donors"] == "d1"
    assert np.isnan(found.loc["C(+)", "mean_jaccard"])
