"""Modules → regulons: cisTarget databases in every layout, planted-motif pruning, prior pruning."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from ctxcore.genesig import Regulon
from pyscenic.utils import load_motif_annotations

from gridapp.core import regulons
from gridapp.core.errors import GridappError
from gridapp.core.methods import infer
from gridapp.core.motifs import (
    CTXCORE_SUFFIX,
    check_gene_overlap,
    open_ranking_db,
    read_motif_annotations,
    write_motif_annotations,
)
from tests.conftest import PYSCENIC_RESOURCES, shared

WHEEL_DB = PYSCENIC_RESOURCES / f"hg19-tss-centered-10kb-10species.mc9nr{CTXCORE_SUFFIX}"
REAL_MOTIFS = {
    "predrem__nrMotif1806": "ZNF000",
    "transfac_pro__M01344": "ZNF001",
    "transfac_pro__M06328": "ZNF002",
    "tiffin__TIFDMEM0000030": "ZNF003",
    "taipale_cyt_meth__JUN_NATGACGTCAYN_FL": "JUN",
}


def test_wheel_database_opens_as_it_is(tmp_path):
    db = open_ranking_db(WHEEL_DB, cache_dir=tmp_path)
    assert db.total_genes == 22284 and "SPI1" in db.geneset
    assert list(tmp_path.iterdir()) == []


@pytest.mark.needs_shared
def test_feather_v1_database_is_converted_once(tmp_path):
    source = shared("cistarget/hg19-tss-centered-10kb-10species.mc9nr.feather")
    db = open_ranking_db(source, cache_dir=tmp_path)
    reference = open_ranking_db(WHEEL_DB, cache_dir=tmp_path).load_full()
    converted = db.load_full()
    assert sorted(converted.index) == sorted(REAL_MOTIFS)
    pd.testing.assert_frame_equal(converted.loc[reference.index, reference.columns], reference, check_names=False)
    open_ranking_db(source, cache_dir=tmp_path)
    assert len(list(tmp_path.glob(f"*{CTXCORE_SUFFIX}"))) == 1


@pytest.mark.needs_shared
def test_legacy_sqlite_database_is_converted(tmp_path):
    db = open_ranking_db(shared("cistarget/hg19-tss-centered-5kb-10species.mc9nr.db"), cache_dir=tmp_path)
    rankings = db.load_full()
    assert rankings.shape == (24453, 29)
    # every gene's ranks are a permutation-like set of positions within the whole genome ranking
    assert (rankings.to_numpy() >= 0).all() and rankings.to_numpy().max() < 30000


def test_database_of_another_species_is_refused(tmp_path):
    db = open_ranking_db(WHEEL_DB, cache_dir=tmp_path)
    mouse_genes = ["Spi1", "Cebpb", "Tcf7", "Actb", "Gapdh", "Cd14", "Lyz2", "Cd3e"]
    with pytest.raises(GridappError, match="another species"):
        check_gene_overlap(db, mouse_genes, source="hg19.feather")
    assert check_gene_overlap(db, [g.upper() for g in mouse_genes[:5]], source="x") >= 0.8


@pytest.mark.needs_shared
def test_rcistarget_annotations_map_to_the_pyscenic_tbl(tmp_path):
    table = read_motif_annotations(shared("cistarget/motifAnnotations_hgnc.tsv.gz"))
    row = table[(table["#motif_id"] == "bergman__Stat92E") & (table["gene_name"] == "STAT5A")].iloc[0]
    assert row["orthologous_identity"] == pytest.approx(0.30) and row["motif_similarity_qvalue"] == 0.0
    similar = table[table["description"].str.contains("q-value = 1.15e-06", regex=False)]
    assert len(similar) > 0 and (similar["motif_similarity_qvalue"] == 1.15e-06).all()
    loaded = load_motif_annotations(str(write_motif_annotations(table, tmp_path / "m.tbl")))
    assert ("STAT5A", "bergman__Stat92E") in loaded.index


def test_annotation_file_of_the_wrong_kind_is_refused(tmp_path):
    path = tmp_path / "genes.tsv"
    path.write_text("gene\tscore\nSPI1\t1\n")
    with pytest.raises(GridappError, match="not a motif annotation table"):
        read_motif_annotations(path)


def _planted_cistarget_case(tmp_path, rng):
    """Expression with SPI1, CEBPB and TCF7 modules; motifs planted for SPI1 and CEBPB only."""
    wheel = feather.read_table(WHEEL_DB)
    genome = [name for name in wheel.column_names if name != "motifs"]
    pool = [str(g) for g in rng.choice([g for g in genome if g not in {"SPI1", "CEBPB", "TCF7"}], 150, replace=False)]
    targets = {"SPI1": list(pool[:30]), "CEBPB": list(pool[30:60]), "TCF7": list(pool[60:90])}
    n_cells = 250
    columns = {tf: rng.gamma(2.0, 1.0, n_cells) for tf in targets}
    for tf, genes in targets.items():
        for gene in genes:
            columns[gene] = 0.8 * columns[tf] + rng.normal(0, 0.3, n_cells)
    for gene in pool[90:]:
        columns[gene] = rng.gamma(2.0, 1.0, n_cells)
    frame = np.log1p(np.clip(pd.DataFrame(columns), 0, None))
    adata = ad.AnnData(frame.to_numpy(np.float32), var=pd.DataFrame(index=frame.columns))

    position = {gene: i for i, gene in enumerate(genome)}
    real = wheel.to_pandas().set_index("motifs")[genome]  # the real motifs, as they are
    rows = [real.loc[name].to_numpy(np.int16) for name in REAL_MOTIFS]
    names = list(REAL_MOTIFS)
    for i in range(300):  # background motifs: random genome rankings
        rows.append(rng.permutation(len(genome)).astype(np.int16))
        names.append(f"background__m{i}")
    for tf in ("SPI1", "CEBPB"):  # planted: the TF's targets ranked on top
        ranking = rng.permutation(len(genome))
        top = [position[gene] for gene in targets[tf]]
        others = np.setdiff1d(np.arange(len(genome)), top)
        ranking[top] = rng.permutation(len(top))
        ranking[others] = len(top) + rng.permutation(len(others))
        rows.append(ranking.astype(np.int16))
        names.append(f"planted__{tf}_motif")
    matrix = np.vstack(rows)
    table = pa.table({gene: matrix[:, i] for i, gene in enumerate(genome)})
    database = tmp_path / f"planted{CTXCORE_SUFFIX}"
    feather.write_feather(table.append_column("motifs", pa.array(names)), database, compression="uncompressed")

    annotations = pd.DataFrame(
        {
            "motif": [*REAL_MOTIFS, "planted__SPI1_motif", "planted__CEBPB_motif"],
            "TF": [*REAL_MOTIFS.values(), "SPI1", "CEBPB"],
            "directAnnotation": "True",
            "inferred_Orthology": "False",
            "inferred_MotifSimil": "False",
            "annotationSource": "directAnnotation",
            "description": "gene is directly annotated",
        }
    )
    annotation_path = tmp_path / "annotations.tsv"
    annotations.to_csv(annotation_path, sep="\t", index=False)
    return adata, targets, database, annotation_path


def test_cistarget_pruning_keeps_planted_regulons_only(tmp_path, client):
    rng = np.random.default_rng(11)
    adata, targets, database, annotations = _planted_cistarget_case(tmp_path, rng)
    adjacencies = infer(adata, list(targets), seed=1, client=client)
    found = regulons.modules(adata, adjacencies)
    assert {m.transcription_factor for m in found} == {"SPI1", "CEBPB", "TCF7"}
    pruned, motifs = regulons.prune_cistarget(found, [database], annotations, cache_dir=tmp_path, client=client)
    by_name = {r.name: r for r in pruned}
    assert set(by_name) == {"SPI1(+)", "CEBPB(+)"}
    for tf in ("SPI1", "CEBPB"):
        kept = set(by_name[f"{tf}(+)"].genes) - {tf}
        assert len(kept) >= 20 and kept <= set(targets[tf])
    assert set(motifs.index.get_level_values("MotifID")) == {"planted__SPI1_motif", "planted__CEBPB_motif"}


def test_pruning_against_the_real_five_motif_database_yields_no_regulon(tmp_path, client):
    adata, targets, _, _ = _planted_cistarget_case(tmp_path, np.random.default_rng(5))
    found = regulons.modules(adata, infer(adata, list(targets), seed=0, client=client))
    annotations = tmp_path / "real.tsv"
    pd.DataFrame(
        {"motif": list(REAL_MOTIFS), "TF": ["SPI1", "CEBPB", "TCF7", "SPI1", "CEBPB"], "description": ""}
    ).to_csv(annotations, sep="\t", index=False)
    pruned, motifs = regulons.prune_cistarget(found, [WHEEL_DB], annotations, cache_dir=tmp_path, client=client)
    assert pruned == [] and motifs.empty


def _module(tf: str, genes: dict[str, float]) -> Regulon:
    return Regulon(
        name=f"{tf} module",
        gene2weight=genes,
        gene2occurrence={},
        transcription_factor=tf,
        context=frozenset(["activating"]),
    )


def test_prior_pruning_keeps_only_supported_targets():
    found = [
        _module("SPI1", {f"G{i}": float(i) for i in range(10)} | {"SPI1": 1.0}),
        _module("SPI1", {"G3": 9.0, "G20": 2.0, "G21": 1.0}),
        _module("TCF7", {f"G{i}": 1.0 for i in range(10)}),
    ]
    prior = pd.DataFrame({"TF": "SPI1", "target": ["G1", "G2", "G3", "G4", "G20", "G99"], "sign": 1, "confidence": "A"})
    pruned = regulons.prune_prior(found, prior, min_targets=5)
    assert [r.name for r in pruned] == ["SPI1(+)"]
    assert set(pruned[0].genes) == {"G1", "G2", "G3", "G4", "G20"}
    assert pruned[0].gene2weight["G3"] == 9.0  # the highest weight over merged modules
    assert regulons.prune_prior(found, prior, min_targets=6) == []


def test_unpruned_regulons_say_so_and_round_trip_through_the_table():
    found = [_module("SPI1", {f"G{i}": float(i) for i in range(8)}), _module("TCF7", {"A": 1.0, "B": 2.0})]
    unpruned = regulons.unpruned(found, min_targets=5)
    assert [r.name for r in unpruned] == ["SPI1(+) [unpruned]"]
    table = regulons.regulons_table(unpruned)
    assert list(table.columns) == ["regulon", "TF", "target", "weight"]
    assert table["weight"].is_monotonic_decreasing
    rebuilt = regulons.regulons_from_table(table)
    assert rebuilt[0].name == unpruned[0].name and dict(rebuilt[0].gene2weight) == dict(unpruned[0].gene2weight)


@pytest.mark.parametrize(("sparse", "keep_only_activating"), [(True, True), (False, False)])
def test_modules_equal_pyscenic_built_from_the_dense_matrix(sparse, keep_only_activating):
    import scipy.sparse as sp
    from pyscenic.utils import add_correlation, modules_from_adjacencies

    rng = np.random.default_rng(0)
    counts = rng.poisson(0.5, (400, 120)).astype(np.float32)
    counts[:, 5], counts[:, 7] = 0.0, 2.0  # a constant gene has no correlation
    genes = [f"g{i}" for i in range(120)]
    values = np.log1p(counts)
    adata = ad.AnnData(sp.csr_matrix(values) if sparse else values, var=pd.DataFrame(index=genes))
    tf, target = rng.integers(0, 20, 3000), rng.integers(0, 120, 3000)
    adjacencies = pd.DataFrame(
        {"TF": np.array(genes)[tf], "target": np.array(genes)[target], "importance": rng.exponential(1, 3000).round(1)}
    )[tf != target].drop_duplicates(["TF", "target"])  # rounded: ties, which pySCENIC breaks by row order
    dense = regulons.expression_frame(adata)
    rho = add_correlation(adjacencies, dense)["rho"].to_numpy()
    np.testing.assert_allclose(regulons.link_correlations(adata, adjacencies), rho, atol=1e-12)
    expected = modules_from_adjacencies(adjacencies, dense, min_genes=5, keep_only_activating=keep_only_activating)
    found = regulons.modules(adata, adjacencies, min_genes=5, keep_only_activating=keep_only_activating)
    assert len(found) > 20 and {"top5perTarget", "top50", "weight>90.0%"} <= set().union(*(m.context for m in found))
    assert found == expected  # the same modules in the same order, the same targets chosen among ties
