"""AUCell values equal pySCENIC's; thresholds, binarisation, embeddings and per-cell-type summaries."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from ctxcore.genesig import GeneSignature, Regulon
from pyscenic.aucell import aucell as pyscenic_aucell

from gridapp.core import embed
from gridapp.core.aucell import aucell, binarize, choose_auc_threshold
from gridapp.core.embed import embed_auc, tsne_of, umap_of
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.regulons import expression_frame
from gridapp.core.summaries import celltype_summaries, top_regulons
from gridapp.jobs.params import DEMO_DIR
from tests.conftest import PYSCENIC_RESOURCES

HNSCC = PYSCENIC_RESOURCES / "GSE103322.em.hgnc.sample.cxg.csv"


@pytest.fixture(scope="module")
def hnscc():
    adata, report = read_dataset(HNSCC)
    signatures = [
        s
        for s in GeneSignature.from_gmt(
            str(PYSCENIC_RESOURCES / "c6.all.v6.1.symbols.gmt"), field_separator="\t", gene_separator="\t"
        )
    ][:40]
    return adata, report, signatures


def test_hnscc_sample_is_read_as_cells_by_genes(hnscc):
    adata, report, _ = hnscc
    assert adata.shape == (100, 20684) and report.orientation == "cells × genes"


def test_aucell_equals_pyscenic_on_the_hnscc_sample(hnscc):
    adata, _, signatures = hnscc
    expected = pyscenic_aucell(pd.read_csv(HNSCC, index_col=0), signatures, auc_threshold=0.05, seed=42, num_workers=2)
    ours = aucell(adata, signatures, auc_threshold=0.05, seed=42)
    assert list(ours.columns) == [s.name for s in signatures] and list(ours.index) == list(adata.obs_names)
    np.testing.assert_allclose(ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), atol=1e-12)
    assert adata.uns["aucell"]["auc_threshold"] == 0.05 and adata.obsm["X_aucell"] is ours


@pytest.mark.parametrize("auc_threshold", [0.05, 0.4])
def test_aucell_equals_pyscenic_on_kang_counts(auc_threshold):
    # raw UMI counts: a few hundred detected genes per cell, so most ranks are ties broken by the
    # seeded shuffle; at 0.4 the cut-off reaches past every cell's detected genes
    adata, _ = read_dataset(DEMO_DIR / "kang2018_donor1016.h5ad")
    adata = adata[:300].copy()
    rng = np.random.default_rng(1)
    genes = list(adata.var_names)
    modules = [
        Regulon(
            name=f"M{i}(+)",
            gene2weight={g: float(w) for g, w in zip(rng.choice(genes, 30, replace=False), rng.uniform(0.1, 2, 30))},
            transcription_factor=genes[i],
            gene2occurrence=[],
        )
        for i in range(25)
    ]
    expected = pyscenic_aucell(expression_frame(adata), modules, auc_threshold=auc_threshold, seed=7, num_workers=1)
    ours = aucell(adata, modules, auc_threshold=auc_threshold, seed=7, n_threads=2)
    np.testing.assert_allclose(ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), rtol=0, atol=1e-12)


def test_aucell_of_scaled_data_equals_pyscenic():
    rng = np.random.default_rng(2)
    matrix = np.round(rng.normal(0, 1, (40, 200)), 1)  # negative values and ties
    adata = ad.AnnData(matrix, var=pd.DataFrame(index=[f"g{i}" for i in range(200)]))
    modules = [GeneSignature(name=f"S{i}", gene2weight=[f"g{j}" for j in range(i, 200, 7)]) for i in range(5)]
    expected = pyscenic_aucell(expression_frame(adata), modules, auc_threshold=0.1, seed=3, num_workers=1)
    ours = aucell(adata, modules, auc_threshold=0.1, seed=3)
    np.testing.assert_allclose(ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), rtol=0, atol=1e-12)


def _tied_expression() -> np.ndarray:
    """60 cells × 300 genes of log counts: many ties, empty cells, cells detecting fewer genes than a 0.1 cut-off."""
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.3, (60, 300)) * rng.integers(1, 3, (60, 300))
    counts[:3] = 0  # no gene detected
    counts[3:6, 20:] = 0  # at most 20 genes detected, fewer than the 29 ranks the cut-off keeps
    return np.log1p(counts)


def _with_duplicates_and_zeros(matrix: np.ndarray) -> sp.csr_matrix:
    """CSR of ``matrix`` that stores each value as two halves, and a zero in every cell (its first undetected gene)."""
    cells = np.arange(len(matrix))
    zeros = sp.csr_matrix((np.zeros(len(cells)), (cells, np.argmin(matrix != 0, axis=1))), shape=matrix.shape)
    side_by_side = sp.hstack([sp.csr_matrix(matrix / 2)] * 2 + [zeros], format="csr")
    stored = sp.csr_matrix(
        (side_by_side.data, side_by_side.indices % matrix.shape[1], side_by_side.indptr), matrix.shape
    )
    assert not stored.has_canonical_format and (stored.data == 0).sum() == len(cells)
    return stored


STORAGES = {
    "float32 csr": lambda x: sp.csr_matrix(x.astype(np.float32)),
    "float32 dense": lambda x: x.astype(np.float32),
    "float64 csc": lambda x: sp.csc_matrix(x),
    # equal counts, values that float32 would tie: odd genes rank first
    "float64 beyond float32 dense": lambda x: x + np.where(x > 0, 1e-12 * (np.arange(x.shape[1]) % 2), 0.0),
    "integer counts dense": lambda x: np.expm1(x).round().astype(np.int64),
    "duplicates and stored zeros": _with_duplicates_and_zeros,
}


@pytest.mark.parametrize("storage", list(STORAGES))
def test_aucell_equals_pyscenic_whatever_the_storage_and_coverage(storage):
    matrix = STORAGES[storage](_tied_expression())
    genes = [f"g{i}" for i in range(300)]
    adata = ad.AnnData(matrix, var=pd.DataFrame(index=genes))
    rng = np.random.default_rng(5)
    modules = [
        Regulon(
            name=f"M{i}(+)",
            gene2weight={g: float(w) for g, w in zip(rng.choice(genes, 20, replace=False), rng.uniform(0.1, 2, 20))}
            | {f"missing{j}": 1.0 for j in range(missing)},  # 1 of 21 missing: scored; 6 of 26: not (under 80 %)
            transcription_factor=genes[i],
            gene2occurrence=[],
        )
        for i, missing in enumerate([0, 1, 6, 0])
    ] + [GeneSignature(name="absent", gene2weight=["missing0", "missing1"])]
    expected = pyscenic_aucell(expression_frame(adata), modules, auc_threshold=0.1, seed=5, num_workers=1)
    ours = aucell(adata, modules, auc_threshold=0.1, seed=5, n_threads=2)
    np.testing.assert_allclose(ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), rtol=0, atol=1e-12)
    assert (ours["M2(+)"] == 0).all() and (ours["absent"] == 0).all() and (ours["M1(+)"] > 0).any()


def test_auc_threshold_follows_the_least_complex_cells():
    rng = np.random.default_rng(0)
    rich = ad.AnnData(rng.poisson(5, (200, 400)).astype(np.float32) + 1)
    assert choose_auc_threshold(rich) == 0.05
    sparse = rich.copy()
    sparse.X[:, 8:] = 0  # every cell detects at most 8 of 400 genes
    assert choose_auc_threshold(sparse) == pytest.approx(8 / 400)


def test_a_ranking_keeps_at_least_two_genes_and_a_smaller_threshold_gets_a_message():
    rng = np.random.default_rng(1)
    few = ad.AnnData(rng.poisson(5, (60, 30)).astype(np.float32), var=pd.DataFrame(index=[f"g{i}" for i in range(30)]))
    few.X[:, 1:] = 0  # the least complex cells detect one gene: a threshold of 1/30 would rank one gene
    assert choose_auc_threshold(few) == pytest.approx(2 / 30)
    module = [GeneSignature(name="S", gene2weight=[f"g{i}" for i in range(10)])]
    assert aucell(few, module).shape == (60, 1)  # the chosen threshold scores (one gene would crash the ranking)
    with pytest.raises(GridappError, match="keeps 1 of 30 genes"):
        aucell(few, module, auc_threshold=1 / 30)


def _two_population_result():
    rng = np.random.default_rng(2)
    n = 120
    genes = [f"G{i}" for i in range(200)] + ["SPI1", "TCF7"]
    x = rng.gamma(1.0, 1.0, (n, len(genes)))
    x[:60, :20] += 6  # population A expresses G0..G19
    x[60:, 20:40] += 6  # population B expresses G20..G39
    x[:60, genes.index("SPI1")] += 5
    x[60:, genes.index("TCF7")] += 5
    adata = ad.AnnData(np.log1p(x).astype(np.float32), var=pd.DataFrame(index=genes))
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.obs["cell_type"] = ["A"] * 60 + ["B"] * 60
    regulons = [
        Regulon(
            name="SPI1(+)",
            gene2weight={f"G{i}": 1.0 for i in range(20)},
            gene2occurrence={},
            transcription_factor="SPI1",
            context=frozenset(["activating"]),
        ),
        Regulon(
            name="TCF7(+)",
            gene2weight={f"G{i}": 1.0 for i in range(20, 40)},
            gene2occurrence={},
            transcription_factor="TCF7",
            context=frozenset(["activating"]),
        ),
    ]
    return adata, regulons


def test_binarisation_separates_the_populations():
    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    thresholds = binarize(adata, seed=0)
    binary = adata.obsm["X_aucell_binary"]
    assert binary["SPI1(+)"].iloc[:60].mean() > 0.9 and binary["SPI1(+)"].iloc[60:].mean() < 0.1
    assert list(adata.uns["aucell"]["thresholds"]) == list(thresholds.loc[binary.columns])


def test_embeddings_and_summaries_are_stored_in_documented_slots():
    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    embed_auc(adata, seed=0)
    assert adata.obsm["X_umap_aucell"].shape == (120, 2) and adata.obsm["X_tsne_aucell"].shape == (120, 2)
    tables = celltype_summaries(adata, "cell_type")
    assert set(tables) == {"mean_auc", "mean_auc_z", "rss", "tf_expression", "tf_detected"}
    assert tables["mean_auc"].loc["A", "SPI1(+)"] > tables["mean_auc"].loc["B", "SPI1(+)"]
    assert tables["mean_auc_z"].loc["A", "SPI1(+)"] == pytest.approx(1.0)
    assert tables["tf_expression"].loc["A", "SPI1"] > tables["tf_expression"].loc["B", "SPI1"]
    assert top_regulons(tables["rss"], n=1) == {"A": ["SPI1(+)"], "B": ["TCF7(+)"]}
    assert adata.uns["regulon_summaries"]["cell_type_key"] == "cell_type"


def test_umap_and_tsne_computed_side_by_side_equal_each_computed_alone():
    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    embed_auc(adata, seed=3)
    auc = adata.obsm["X_aucell"].to_numpy(np.float32)
    assert np.array_equal(adata.obsm["X_umap_aucell"], umap_of(auc, seed=3))
    assert np.array_equal(adata.obsm["X_tsne_aucell"], tsne_of(auc, seed=3))


def test_a_cell_selection_becomes_one_more_summary_row():
    from gridapp.core.summaries import with_selection

    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    celltype_summaries(adata, "cell_type")
    first_type = np.flatnonzero(adata.obs["cell_type"].to_numpy() == "A")
    tables = with_selection(adata, first_type)
    name = f"selected ({len(first_type)} cells)"
    for kind in ("mean_auc", "mean_auc_z", "tf_expression", "tf_detected"):
        assert list(tables[kind].index) == ["A", "B", name]
        np.testing.assert_allclose(tables[kind].loc[name], tables[kind].loc["A"], rtol=1e-5)  # the selection is type A
    assert tables["rss"].loc[name, "SPI1(+)"] > tables["rss"].loc[name, "TCF7(+)"]
    mixed = with_selection(adata, [0, 1, 2, 118, 119, 119])  # repeats count once
    assert "selected (5 cells)" in mixed["mean_auc"].index
    assert with_selection(adata, [])["mean_auc"].shape == (2, 2)


def test_binarisation_of_a_regulon_that_is_never_recovered():
    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    adata.obsm["X_aucell"]["TCF7(+)"] = 0.0
    thresholds = binarize(adata, seed=0)
    assert thresholds["TCF7(+)"] == 0.0 and adata.obsm["X_aucell_binary"]["TCF7(+)"].sum() == 0


def test_user_thresholds_override_the_stored_ones():
    from gridapp.core.aucell import on_off, thresholds_of

    adata, regulons = _two_population_result()
    aucell(adata, regulons, seed=0)
    stored = binarize(adata, seed=0)
    moved = thresholds_of(adata, {"SPI1(+)": 1.0, "NOT_A_REGULON": 0.0})
    assert list(moved.index) == ["SPI1(+)", "TCF7(+)"] and moved["TCF7(+)"] == stored["TCF7(+)"]
    binary = on_off(adata.obsm["X_aucell"], moved)
    assert binary["SPI1(+)"].sum() == 0 and binary["TCF7(+)"].equals(adata.obsm["X_aucell_binary"]["TCF7(+)"])


@pytest.mark.slow
@pytest.mark.parametrize(("n_cells", "approximate_from", "approximate"), [(8200, None, False), (2200, 2000, True)])
def test_embedding_of_many_cells_takes_exact_neighbours_then_pynndescents(
    monkeypatch, n_cells, approximate_from, approximate
):
    # 8,200 cells: past scanpy's own switch to pynndescent (8,192), still exact distances; from APPROXIMATE_FROM
    # (lowered here), pynndescent's graph through a sparse-graph code path. UMAP alone: the tSNE of as many cells
    # is a minute of the suite and has no such switch below 10,000 cells.
    if approximate_from:
        monkeypatch.setattr(embed, "APPROXIMATE_FROM", approximate_from)
    built = []
    fit_transform = embed.NNDescentMatrix.fit_transform
    monkeypatch.setattr(
        embed.NNDescentMatrix, "fit_transform", lambda self, *a, **k: built.append(1) or fit_transform(self, *a, **k)
    )
    rng = np.random.default_rng(0)
    half = n_cells // 2
    values = rng.normal(size=(n_cells, 6)) + np.repeat(np.eye(6)[[0, 3]], half, axis=0) * 4
    umap = umap_of(values.astype(np.float32), seed=0)
    assert bool(built) == approximate
    assert umap.shape == (n_cells, 2) and np.isfinite(umap).all()
    centre_a, centre_b = umap[:half].mean(axis=0), umap[half:].mean(axis=0)
    assert np.linalg.norm(centre_a - centre_b) > umap[:half].std(axis=0).mean()  # the two groups apart


@pytest.mark.parametrize("separation", [0.0, 0.05, 0.2])
def test_thresholds_equal_pyscenic_rule(separation):
    from pyscenic.binarization import derive_threshold

    from gridapp.core.aucell import auc_threshold_of

    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(0.1, 0.03, 900), rng.normal(0.1 + separation, 0.03, 300)].clip(0).round(4)
    expected = derive_threshold(pd.DataFrame({"R": values}), "R", seed=1)
    assert auc_threshold_of(values, seed=1) == pytest.approx(expected, rel=1e-6)


def test_embedding_of_cells_that_all_have_the_same_activity():
    adata = ad.AnnData(np.zeros((40, 3), dtype=np.float32))
    adata.obsm["X_aucell"] = pd.DataFrame(np.zeros((40, 2)), index=adata.obs_names, columns=["A(+)", "B(+)"])
    embed_auc(adata, seed=0)
    assert np.isfinite(adata.obsm["X_tsne_aucell"]).all() and np.isfinite(adata.obsm["X_umap_aucell"]).all()
