"""LASSO regulons: planted activating and repressing links with their signs, layers, the Fisher filter."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from gridapp.core.enrichment import enriched_links, tf_enrichment
from gridapp.core.errors import GridappError
from gridapp.core.methods import infer
from gridapp.core.methods.lasso import lasso
from gridapp.core.regulons import signed_regulons

TFS = ["ACT", "REP", "IDLE1", "IDLE2", "IDLE3"]


@pytest.fixture(scope="module")
def signed() -> ad.AnnData:
    """600 cells of counts: ACT raises UP1..UP4, REP lowers DOWN1..DOWN4; ``total`` and a thinned ``new`` layer."""
    rng = np.random.default_rng(3)
    n = 600
    tf_rates = {tf: rng.gamma(2.0, 2.0, n) for tf in TFS}
    rates = dict(tf_rates)
    for i in range(4):
        rates[f"UP{i}"] = 0.5 + 1.5 * tf_rates["ACT"]
        rates[f"DOWN{i}"] = 30.0 * np.exp(-0.3 * tf_rates["REP"])
    for i in range(6):
        rates[f"NOISE{i}"] = np.full(n, 4.0)
    counts = np.column_stack([rng.poisson(r) for r in rates.values()]).astype(np.float32)
    adata = ad.AnnData(np.log1p(counts), var=pd.DataFrame(index=list(rates)))
    adata.layers["total"] = sp.csr_matrix(counts)
    adata.layers["new"] = sp.csr_matrix(rng.binomial(counts.astype(int), 0.5).astype(np.float32))
    return adata


def _coefficient(links: pd.DataFrame, tf: str, target: str) -> float:
    match = links[(links["TF"] == tf) & (links["target"] == target)]
    return float(match["coefficient"].iloc[0]) if len(match) else 0.0


@pytest.mark.parametrize("layers", [{}, {"target_layer": "new", "tf_layer": "total"}])
def test_planted_links_come_back_with_their_signs(signed, client, layers):
    links = lasso(signed, TFS, client=client, **layers)
    assert list(links.columns) == ["TF", "target", "importance", "coefficient"]
    assert (links["importance"] == links["coefficient"].abs()).all()
    for i in range(4):
        assert _coefficient(links, "ACT", f"UP{i}") > 0 and _coefficient(links, "REP", f"DOWN{i}") < 0
        strongest = links[links["target"].isin([f"UP{i}", f"DOWN{i}"])].sort_values("importance").groupby("target")
        assert set(strongest.tail(1)["TF"]) == {"ACT", "REP"}
    assert (links["TF"] != links["target"]).all()
    assert links["importance"].min() > 1e-8  # a target whose best model is empty gives no ~1e-16 residues


def test_each_target_gets_scikit_learns_elastic_net_cv(signed, client):
    """The chunk-shared folds and Gram matrices change nothing: per target, ElasticNetCV with the same settings
    (each TF standardised, a TF never its own regressor) gives the same coefficients."""
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    links = lasso(signed, TFS, client=client, seed=4)
    x = signed[:, TFS].X.astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    for target in ["UP0", "DOWN1", "NOISE2", "ACT", "REP"]:
        regressors = [tf for tf in TFS if tf != target]
        fitted = ElasticNetCV(l1_ratio=1.0, n_alphas=30, eps=1e-2, cv=KFold(5, shuffle=True, random_state=4)).fit(
            x[:, [TFS.index(tf) for tf in regressors]], signed[:, target].X.ravel().astype(np.float64)
        )
        expected = fitted.coef_ if fitted.alpha_ < fitted.alphas_.max() else np.zeros(len(regressors))
        got = [_coefficient(links, tf, target) for tf in regressors]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=target)


def test_the_registry_runs_it_and_is_deterministic(signed, client):
    first = infer(signed, TFS, method="lasso", seed=1, client=client)
    again = infer(signed, TFS, method="lasso", seed=1, client=client)
    pd.testing.assert_frame_equal(first, again)
    assert first["importance"].is_monotonic_decreasing and "coefficient" in first


def test_a_missing_layer_is_named_with_the_layers_there_are(signed, client):
    with pytest.raises(GridappError) as raised:
        lasso(signed, TFS, client=client, target_layer="unspliced")
    assert "no layer 'unspliced'" in raised.value.message and "'total', 'new'" in raised.value.hint


def test_fisher_filter_keeps_the_enriched_tf_and_drops_the_other():
    universe = [f"G{i}" for i in range(100)]
    reference = pd.DataFrame(
        {"TF": ["A"] * 10 + ["B"] * 10, "target": universe[:10] + universe[50:60]},
    )
    adjacencies = pd.DataFrame(
        {  # A links 8 of its 10 reference targets and 2 others; B links 10 genes, 1 of them its own
            "TF": ["A"] * 10 + ["B"] * 10 + ["C"] * 3,
            "target": universe[:8] + universe[90:92] + universe[59:60] + universe[20:29] + universe[:3],
        }
    )
    table = tf_enrichment(adjacencies, reference, universe=universe).set_index("TF")
    assert set(table.index) == {"A", "B"}  # C has no reference targets: not tested
    odds, p = stats.fisher_exact([[8, 2], [2, 88]], alternative="greater")
    assert table.loc["A", "pvalue"] == pytest.approx(p) and table.loc["A", "odds_ratio"] == pytest.approx(odds)
    assert (table.loc["A", "n_targets"], table.loc["A", "n_reference"], table.loc["A", "overlap"]) == (10, 10, 8)
    assert table.loc["A", "kept"] and not table.loc["B", "kept"]
    assert set(enriched_links(adjacencies, table.reset_index())["TF"]) == {"A"}


def test_signed_links_make_activating_and_repressing_regulons(signed, client):
    links = lasso(signed, TFS, client=client)
    found = {r.name: r for r in signed_regulons(links, min_targets=3)}
    assert {"ACT(+)", "REP(-)"} <= set(found)
    assert {f"UP{i}" for i in range(4)} <= set(found["ACT(+)"].genes)
    assert {f"DOWN{i}" for i in range(4)} <= set(found["REP(-)"].genes)
    assert found["REP(-)"].context == frozenset(["repressing"])
    only_rep = {r.name for r in signed_regulons(links, tfs=["REP"], min_targets=3)}
    assert "REP(-)" in only_rep and only_rep <= {"REP(+)", "REP(-)"}
