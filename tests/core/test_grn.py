"""GRN inference through arboreto: planted links come out on top."""

from __future__ import annotations

import pytest

from gridapp.core.errors import GridappError
from gridapp.core.methods import METHOD_IDS, METHODS, get_method, infer


def _top_hits(adjacencies, driven, n):
    planted = {(tf, target) for tf, targets in driven.items() for target in targets}
    top = set(zip(adjacencies["TF"].head(n), adjacencies["target"].head(n)))
    return len(top & planted) / n


def test_grnboost2_ranks_planted_links_on_top(planted, client):
    adata, tfs, driven = planted
    adjacencies = infer(adata, tfs, method="grnboost2", seed=3, client=client)
    assert list(adjacencies.columns) == ["TF", "target", "importance"]
    assert adjacencies["importance"].is_monotonic_decreasing
    assert not (adjacencies["TF"] == adjacencies["target"]).any()
    assert _top_hits(adjacencies, driven, 32) >= 0.95
    assert adjacencies.attrs["trees_per_target"] > 100


def test_same_seed_same_adjacencies_on_two_clusters(planted):
    adata, tfs, _ = planted
    # each on a fresh local cluster: arboreto's content-named tasks must not meet on the session cluster
    first = infer(adata[:, :20].copy(), tfs, seed=5)
    second = infer(adata[:, :20].copy(), tfs, seed=5)
    assert first.equals(second)


def test_genie3_ranks_planted_links_on_top(planted, client):
    adata, tfs, driven = planted
    small = adata[:150, :22].copy()  # 6 TFs + the targets of SPI1 and CEBPB
    adjacencies = infer(small, tfs, method="genie3", seed=3, client=client)
    kept = {tf: targets for tf, targets in driven.items() if tf in ("SPI1", "CEBPB")}
    assert _top_hits(adjacencies, kept, 16) >= 0.9


def test_registry_describes_methods_and_refuses_unknown_ones():
    assert {"grnboost2", "genie3"} <= set(METHODS)
    assert [method.id for method in METHODS.values()] == list(METHOD_IDS)  # every listed id has its method
    assert not get_method("grnboost2").supervised and "Moerman" in get_method("grnboost2").citation
    with pytest.raises(GridappError, match="Unknown method 'xgb'"):
        get_method("xgb")
