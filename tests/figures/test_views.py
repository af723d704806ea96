"""The Explore views as functions of (stored result, view state): each describes its own result only."""

from __future__ import annotations

import pandas as pd
import pytest

from gridapp.figures.views import (
    REGULON_AUC,
    REGULON_ON_OFF,
    ViewState,
    cell_views,
    colour_values,
    gene_lookup,
    importance_view,
    motif_support,
    network_view,
    regulon_card,
    summary_views,
    threshold_range,
)
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run
from tests.conftest import DEMO_SUBSET

#: two results of the demo donor: A (the session's DEMO_SUBSET) on two cell types, B on fewer cells (one cell type)
PARAMS_B = RunParams.demo(cell_types=("CD14+ Monocytes",), n_top_genes=150, seed=1)


@pytest.fixture(scope="module")
def results(client, demo_subset, tmp_path_factory):
    cache = ResultCache(tmp_path_factory.mktemp("cache"))
    motifs = tmp_path_factory.mktemp("motifs")
    keys = [
        cache.get_or_compute(DEMO_SUBSET, lambda _: demo_subset[0]),
        cache.get_or_compute(PARAMS_B, lambda p: run(p, client=client, cache_dir=motifs)),
    ]
    return [(key, cache.load(key)) for key in keys]


def state_of(key, result, **values) -> ViewState:
    return ViewState.from_values({"key": key, **values}).validated(result)[0]


def test_a_selection_made_on_another_result_is_dropped_with_a_note(results):
    (key_a, a), (key_b, b) = results
    assert b.adata.n_obs < a.adata.n_obs
    beyond_b = [b.adata.n_obs + 3, 5]  # a lasso on A that names a cell B does not have
    state, notes = ViewState.from_values({"key": key_b, "selected": {"key": key_a, "cells": beyond_b}}).validated(b)
    assert state.selection == () and len(notes) == 1 and "2 cells" in notes[0]
    # the same positions, claimed for B, still name a cell B lacks: dropped
    state, notes = ViewState.from_values({"key": key_b, "selected": {"key": key_b, "cells": beyond_b}}).validated(b)
    assert state.selection == () and notes


def test_every_view_of_a_smaller_result_describes_that_result(results):
    (key_a, a), (key_b, b) = results
    selected = {"key": key_a, "cells": list(range(a.adata.n_obs - 20, a.adata.n_obs))}
    state = state_of(key_b, b, regulon=list(a.adata.obsm["X_aucell"].columns)[-1], selected=selected)
    embedding, auc = cell_views(b, state)
    clustermap, heatmap = summary_views(b, state)
    cells = f"{b.adata.n_obs:,} cells"
    assert cells in embedding.layout.title.text and cells in clustermap.layout.title.text
    assert cells in heatmap.layout.title.text
    assert f"of {b.adata.n_obs:,} cells" in auc.layout.title.text
    assert sum(len(trace.x) for trace in embedding.data) == b.adata.n_obs
    assert not any("selected" in str(y) for trace in clustermap.data for y in (trace.y if trace.y is not None else []))
    assert state.regulon in b.adata.obsm["X_aucell"].columns


def test_the_selected_regulon_drives_the_embedding_colour_and_the_card(results):
    (key, a), _ = results
    regulon = list(a.adata.obsm["X_aucell"].columns)[1]
    state = state_of(key, a, regulon=regulon)
    assert state.colour_by == REGULON_AUC  # the default
    embedding, auc = cell_views(a, state)
    assert f"AUC: {regulon}" in embedding.layout.title.text and regulon in auc.layout.title.text
    on_off, _ = cell_views(a, state_of(key, a, regulon=regulon, colour_by=REGULON_ON_OFF))
    assert {trace.name for trace in on_off.data} <= {"on", "off"}
    card = regulon_card(a, state)
    members = a.regulon_targets[a.regulon_targets["regulon"] == regulon]
    assert set(card.targets["gene"]) == set(members["target"]) and f"{len(members):,} targets" in card.summary
    assert card.targets["importance"].is_monotonic_decreasing
    assert card.targets["in_prior"].all()  # prior-pruned: every regulon link is a prior link


def test_hostile_values_take_defaults_and_stay_inside_the_result(results):
    (key, a), _ = results
    hostile = {
        "key": key,
        "regulon": "NOT_A_TF(+)",
        "log_threshold": "1e400",
        "top_n": -3,
        "hops": 7,
        "occurrence": 9,
        "colour_by": "__class__",
        "embedding": "X_pca",
        "selected": {"key": key, "cells": ["0", True, -1]},
        "overrides": {"x": "nan", "y": None},
        "summary_kind": {"a": 1},
    }
    state, _ = ViewState.from_values(hostile).validated(a)
    low, high, _ = threshold_range(a)
    assert state.regulon in a.adata.obsm["X_aucell"].columns and low <= state.log_threshold <= high
    assert (state.top_n, state.hops, state.occurrence, state.selection) == (None, 1, 1.0, ())
    assert state.colour_by in colour_values(a) and state.embedding in a.adata.obsm and state.overrides == {}
    assert ViewState.from_values(state.to_values()) == state


def test_the_network_and_histogram_follow_the_threshold(results):
    (key, a), _ = results
    low, high, default = threshold_range(a)
    loose, strict = state_of(key, a, log_threshold=low), state_of(key, a, log_threshold=(low + high) / 2)
    assert network_view(a, loose).n_above > network_view(a, strict).n_above
    panel = importance_view(a, strict, network_view(a, strict))
    assert panel.kept.startswith(f"{network_view(a, strict).n_above:,} edges kept")
    assert (state_of(key, a).log_threshold, default) == (default, default)


def test_gene_lookup_names_the_regulons_and_upstream_tfs(results):
    (key, a), _ = results
    target = a.regulon_targets["target"].iloc[0]
    text, table = gene_lookup(a, target, state_of(key, a))
    assert a.regulon_targets["regulon"].iloc[0] in text and table["in_regulon"].any()
    assert set(table["TF"]) == set(a.adjacencies.loc[a.adjacencies["target"] == target, "TF"])
    text, table = gene_lookup(a, "NO_SUCH_GENE", state_of(key, a))
    assert "not in this result" in text and table.empty


def test_motif_support_reads_a_pyscenic_motif_table():
    motifs = pd.DataFrame(
        {
            "TF": ["SPI1", "SPI1", "CEBPB"],
            "MotifID": ["m1", "m2", "m3"],
            "NES": [3.1, 4.2, 5.0],
            "TargetGenes": ["[('A', 1.0), ('B', 0.5)]", "[('B', 0.9)]", "[('A', 1.0)]"],
        }
    )
    support = motif_support(motifs, "SPI1")
    assert support.loc["B"].tolist() == ["m2", 4.2] and support.loc["A"].tolist() == ["m1", 3.1]
