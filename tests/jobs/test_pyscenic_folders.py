"""Folders written by pySCENIC's own command line open in gridapp with pySCENIC's regulons, AUC and thresholds;
every broken folder is a GridappError with a hint; pickles and YAML cannot run code."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import loompy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from pyscenic.cli.utils import decompress_meta, load_signatures, save_enriched_motifs
from pyscenic.utils import load_motifs

from gridapp.core.errors import GridappError
from gridapp.core.motifs import CTXCORE_SUFFIX
from gridapp.core.signatures import pyscenic_name, read_regulons
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.imports import is_pyscenic_output, read_pyscenic_output
from tests.conftest import PYSCENIC_RESOURCES
from tests.processes import ROOT

DEMO = ROOT / "data" / "demo"
WHEEL_DB = PYSCENIC_RESOURCES / f"hg19-tss-centered-10kb-10species.mc9nr{CTXCORE_SUFFIX}"
#: TFs expressed in the demo's B cells and monocytes; cisTarget motifs are planted for the first four
TFS = ["SPI1", "CEBPB", "JUNB", "IRF7", "MAFB", "KLF6", "YBX1", "HMGB1"]
PLANTED = TFS[:4]


def _pyscenic(folder: Path, *arguments: str) -> subprocess.Popen:
    """``python -m gridapp pyscenic ARGUMENTS`` (pySCENIC's own command line) run in ``folder``."""
    return subprocess.Popen(
        [sys.executable, "-m", "gridapp", "pyscenic", *arguments],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _done(*processes: subprocess.Popen) -> None:
    for process in processes:
        _, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-3000:]


def _expression(folder: Path) -> None:
    """300 demo cells (B cells, CD14+ monocytes) × 150 genes (the TFs and the most variable genes of the ranking
    database's genome): ``expr.loom`` for pySCENIC, ``expr.h5ad`` (with ``cluster_id``) for gridapp."""
    genome = set(feather.read_table(WHEEL_DB).column_names) - {"motifs"}
    demo = ad.read_h5ad(DEMO / "kang2018_donor1016.h5ad")
    demo.var_names = demo.var["feature"].astype(str)
    demo = demo[demo.obs["cluster_id"].isin(["B cells", "CD14+ Monocytes"]), demo.var_names.isin(genome)]
    demo = demo[np.sort(np.random.default_rng(0).choice(demo.n_obs, 300, replace=False))]
    spread = pd.Series(np.log1p(demo.X.toarray()).var(axis=0), index=demo.var_names).drop(TFS)
    cells = demo[:, TFS + list(spread.sort_values(ascending=False).index[: 150 - len(TFS)])].copy()
    cells.write_h5ad(folder / "expr.h5ad")
    loompy.create(
        str(folder / "expr.loom"),
        cells.X.toarray().T,
        {"Gene": np.asarray(cells.var_names)},
        {"CellID": np.asarray(cells.obs_names)},
    )
    (folder / "tfs.txt").write_text("\n".join(TFS) + "\n")


def _planted_database(folder: Path, adjacencies: pd.DataFrame) -> Path:
    """A cisTarget ranking database over 2,000 genes of the wheel's genome (its 5 real motifs re-ranked, 100
    random background motifs) with one motif per planted TF ranking its 40 strongest targets first, and the
    motif annotations of the planted motifs: the 5-motif database alone gives pySCENIC's ctx no regulon."""
    wheel = feather.read_table(WHEEL_DB)
    rng = np.random.default_rng(1)
    genome = [name for name in wheel.column_names if name != "motifs"]
    genes = sorted(set(adjacencies["TF"]) | set(adjacencies["target"]) | set(rng.choice(genome, 2000, replace=False)))
    real = wheel.select(genes).to_pandas().to_numpy()
    rows = list(np.argsort(np.argsort(real, axis=1), axis=1))
    names = list(wheel.column("motifs").to_pylist())
    for i in range(100):
        rows.append(rng.permutation(len(genes)))
        names.append(f"background__m{i}")
    position = {gene: i for i, gene in enumerate(genes)}
    for tf in PLANTED:
        top = [position[gene] for gene in adjacencies.loc[adjacencies["TF"] == tf, "target"].head(40)]
        others = np.setdiff1d(np.arange(len(genes)), top)
        ranking = np.empty(len(genes), dtype=np.int64)
        ranking[top], ranking[others] = rng.permutation(len(top)), len(top) + rng.permutation(len(others))
        rows.append(ranking)
        names.append(f"planted__{tf}")
    matrix = np.vstack(rows).astype(np.int16)
    table = pa.table({gene: matrix[:, i] for i, gene in enumerate(genes)}).append_column("motifs", pa.array(names))
    database = folder / f"planted{CTXCORE_SUFFIX}"
    feather.write_feather(table, database, compression="uncompressed")
    pd.DataFrame(
        {
            "#motif_id": [f"planted__{tf}" for tf in PLANTED],
            "gene_name": PLANTED,
            "motif_similarity_qvalue": 0.0,
            "orthologous_identity": 1.0,
            "description": "gene is directly annotated",
        }
    ).to_csv(folder / "motifs.tbl", sep="\t", index=False)
    return database


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory) -> SimpleNamespace:
    """pySCENIC's grn (2 workers: arboreto seeds each target, so the same links as one), ctx and aucell (CSV and
    loom) run by its own command line on 300 demo cells × 150 genes (about 40 s on 2 idle cores). ctx prunes
    against :func:`_planted_database` with ``--rank_threshold 500`` (its genome has 2,000 genes); aucell's two
    runs go side by side."""
    work = tmp_path_factory.mktemp("pyscenic_cli")
    _expression(work)
    _done(_pyscenic(work, "grn", "expr.loom", "tfs.txt", "-o", "adj.tsv", "--seed", "1", "--num_workers", "2"))
    database = _planted_database(work, pd.read_csv(work / "adj.tsv", sep="\t"))
    ctx = ["ctx", "adj.tsv", database.name, "--annotations_fname", "motifs.tbl", "--expression_mtx_fname", "expr.loom"]
    _done(_pyscenic(work, *ctx, "-o", "regulons.csv", "--num_workers", "1", "--rank_threshold", "500"))
    aucell = ["aucell", "expr.loom", "regulons.csv", "--seed", "1", "--num_workers", "1", "-o"]
    _done(_pyscenic(work, *aucell, "auc_mtx.csv"), _pyscenic(work, *aucell, "auc.loom"))
    return SimpleNamespace(
        work=work,
        expression=work / "expr.h5ad",
        auc=pd.read_csv(work / "auc_mtx.csv", index_col=0, float_precision="round_trip"),
    )


def _folder(outputs: SimpleNamespace, tmp_path: Path, *names: str, **renamed: str) -> Path:
    """A folder holding the CLI's outputs ``names``, and ``renamed`` ones (name there → the CLI's name)."""
    folder = tmp_path / "out"
    folder.mkdir()
    for name, source in {**{name: name for name in names}, **renamed}.items():
        shutil.copy(outputs.work / source, folder / name)
    return folder


def _same_regulons(imported: list, expected: list, *, weights: bool = True) -> None:
    imported, expected = sorted(imported, key=lambda r: r.name), sorted(expected, key=lambda r: r.name)
    assert [r.name for r in imported] == [r.name for r in expected] and len(expected) >= 2
    for mine, theirs in zip(imported, expected):
        assert set(mine.genes) == set(theirs.genes)
        assert not weights or dict(mine.gene2weight) == dict(theirs.gene2weight)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["regulons.csv", "reg.csv"])
def test_a_ctx_folder_opens_with_pyscenics_regulons_and_auc(cli_outputs, tmp_path, name):
    folder = _folder(cli_outputs, tmp_path, "adj.tsv", "auc_mtx.csv", **{name: "regulons.csv"})
    assert is_pyscenic_output(folder)
    result = read_pyscenic_output(folder)
    _same_regulons(result.regulons, load_signatures(str(cli_outputs.work / "regulons.csv")))
    auc = result.adata.obsm["X_aucell"]
    pd.testing.assert_frame_equal(auc, cli_outputs.auc, check_exact=True, check_names=False)
    assert result.adata.n_vars == 0 and result.summary["warnings"]  # no expression: said so
    assert "computed with pySCENIC's rule" in " ".join(result.summary["notes"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reg.yaml", "reg.gmt", "reg.json", "reg.dat", "regulons.p"])
def test_every_regulon_file_pyscenic_writes_reads_as_its_ctx_table(cli_outputs, tmp_path, name):
    motifs = load_motifs(str(cli_outputs.work / "regulons.csv"))
    expected = load_signatures(str(cli_outputs.work / "regulons.csv"))
    path = tmp_path / name
    if path.suffix in (".dat", ".p"):  # as the pySCENIC tutorial saves them (ctx's own .dat writer fails on open())
        path.write_bytes(pickle.dumps(expected))
    else:
        save_enriched_motifs(motifs, str(path))  # what `pyscenic ctx -o reg.yaml|gmt|json` writes
    _same_regulons(read_regulons(path), expected, weights=path.suffix in (".yaml", ".dat", ".p"))
    if path.suffix in (".yaml", ".gmt"):  # pySCENIC reads no JSON, and its .dat reader fails on open() as its writer
        assert [pyscenic_name(r.name) for r in load_signatures(str(path))] == [r.name for r in expected]


@pytest.mark.slow
def test_an_aucell_loom_keeps_its_stored_thresholds(cli_outputs, tmp_path):
    folder = _folder(cli_outputs, tmp_path, "adj.tsv", "regulons.csv", "auc.loom")
    with loompy.connect(str(folder / "auc.loom"), mode="r", validate=False) as loom:
        metadata = decompress_meta(loom.attrs["MetaData"])  # pySCENIC's own reader
    stored = {entry["regulon"]: entry["defaultThresholdValue"] for entry in metadata["regulonThresholds"]}
    result = read_pyscenic_output(folder)
    aucell = result.adata.uns["aucell"]
    assert dict(zip(aucell["regulons"], aucell["thresholds"])) == stored and len(stored) >= 2
    auc = result.adata.obsm["X_aucell"]
    np.testing.assert_allclose(auc.loc[cli_outputs.auc.index, cli_outputs.auc.columns], cli_outputs.auc, rtol=1e-12)
    pd.testing.assert_frame_equal(result.adata.obsm["X_aucell_binary"].astype(bool), auc.gt(pd.Series(stored)))
    assert f"{len(stored)} kept as stored in auc.loom" in " ".join(result.summary["notes"])
    assert result.adata.n_vars == 150  # the expression aucell copied into its loom
    _same_regulons(result.regulons, load_signatures(str(cli_outputs.work / "regulons.csv")))


@pytest.mark.slow
def test_a_loom_alone_gives_its_regulon_membership(cli_outputs, tmp_path):
    folder = _folder(cli_outputs, tmp_path, "adj.tsv", **{"scenic.loom": "auc.loom"})
    result = read_pyscenic_output(folder)
    expressed = set(result.adata.var_names)
    expected = {r.name: set(r.genes) & expressed for r in load_signatures(str(cli_outputs.work / "regulons.csv"))}
    assert {r.name: set(r.genes) for r in result.regulons} == expected


@pytest.mark.slow
def test_a_table_folder_gets_genes_and_cell_types_from_the_expression_file(cli_outputs, tmp_path):
    folder = _folder(cli_outputs, tmp_path, "adj.tsv", "regulons.csv", "auc_mtx.csv")
    cache = ResultCache(tmp_path / "cache")
    bare = cache.import_pyscenic(folder)
    key = cache.import_pyscenic(folder, cli_outputs.expression, "cluster_id")
    assert key != bare and cache.import_pyscenic(folder, cli_outputs.expression, "cluster_id") == key
    stored = cache.load(key)
    assert stored.adata.n_vars == 150 and set(stored.adata.obs["cluster_id"]) == {"B cells", "CD14+ Monocytes"}
    assert stored.summary["params"]["cell_type_key"] == "cluster_id" and not stored.summary["warnings"]
    assert set(stored.adata.uns["regulon_summaries"]["rss"].index) == {"B cells", "CD14+ Monocytes"}
    pd.testing.assert_frame_equal(stored.adata.obsm["X_aucell"], cli_outputs.auc, check_exact=True, check_names=False)
    assert (cache.path(key) / "result.loom").is_file() and not (cache.path(bare) / "result.loom").exists()


# --- every broken folder says what is wrong and what to do (small files, no pySCENIC run) ---

CELLS = [f"c{i}" for i in range(40)]


def _small_folder(tmp_path: Path, *, adjacencies: bool = True, auc: bool = True, regulons: str | None = "gmt") -> Path:
    folder = tmp_path / "small"
    folder.mkdir(parents=True)
    if adjacencies:
        (folder / "adj.tsv").write_text("TF\ttarget\timportance\nSPI1\tG1\t3.0\nSPI1\tG2\t2.0\n")
    if auc:
        values = np.random.default_rng(0).random((len(CELLS), 2))
        pd.DataFrame(values, index=pd.Index(CELLS, name="Cell"), columns=["SPI1 (+)", "CEBPB_(+)"]).to_csv(
            folder / "auc_mtx.csv"
        )
    if regulons == "gmt":
        (folder / "reg.gmt").write_text("SPI1(+),\t,tf=SPI1,\tG1\tG2\nCEBPB(+),\t,tf=CEBPB,\tG2\tG3\n")
    return folder


def test_scope_and_gmt_names_are_read_as_pyscenics(tmp_path):
    folder = _small_folder(tmp_path)
    result = read_pyscenic_output(folder)
    assert list(result.adata.obsm["X_aucell"].columns) == ["SPI1(+)", "CEBPB(+)"]
    written = pd.read_csv(folder / "auc_mtx.csv", index_col=0)
    written.T.to_csv(folder / "auc_mtx.csv")  # as `pyscenic aucell -t` writes it: regulons × cells
    transposed = read_pyscenic_output(folder).adata.obsm["X_aucell"]
    pd.testing.assert_frame_equal(transposed, result.adata.obsm["X_aucell"], check_names=False)
    assert [(r.name, r.transcription_factor, set(r.genes)) for r in result.regulons] == [
        ("SPI1(+)", "SPI1", {"G1", "G2"}),
        ("CEBPB(+)", "CEBPB", {"G2", "G3"}),
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("JUN (+)", "JUN(+)"),
        ("JUN_(+)", "JUN(+)"),
        ("JUN(+) (12g)", "JUN(+)"),
        ("JUN (12g)", "JUN(+)"),
        ("JUN(-),", "JUN(-)"),
        ("SPI1(+) [unpruned]", "SPI1(+) [unpruned]"),
    ],
)
def test_regulon_names_as_pyscenic_gives_them(name, text):
    assert pyscenic_name(name) == text


def _refused(match: str, folder: Path, **options) -> GridappError:
    with pytest.raises(GridappError, match=match) as refused:
        read_pyscenic_output(folder, **options)
    assert refused.value.hint
    return refused.value


def test_missing_pieces_are_named(tmp_path):
    _refused("no adjacencies file", _small_folder(tmp_path / "a", adjacencies=False))
    _refused("no regulon activity", _small_folder(tmp_path / "b", auc=False))
    _refused("no regulon definitions beside auc_mtx.csv", _small_folder(tmp_path / "c", regulons=None))
    _refused("no such folder", tmp_path / "nowhere")
    _refused("gone.h5ad: no such expression file", _small_folder(tmp_path / "d"), expression=tmp_path / "gone.h5ad")
    with pytest.raises(GridappError, match="nowhere: no such folder"):
        ResultCache(tmp_path / "cache").import_pyscenic(tmp_path / "nowhere")


def test_auc_regulons_without_definition_are_named(tmp_path):
    folder = _small_folder(tmp_path)
    (folder / "reg.gmt").write_text("SPI1(+),\t,tf=SPI1,\tG1\tG2\n")
    assert "CEBPB(+)" in _refused("1 of its 2 regulons have no definition in reg.gmt", folder).message


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("adj.tsv", "gene\tscore\nA\t1\n", "adj.tsv: needs columns TF, target, importance"),
        ("adj.tsv", "TF\ttarget\timportance\nSPI1\tG1\thigh\n", "adj.tsv: cannot be read as adjacencies"),
        ("auc_mtx.csv", "Cell,SPI1(+)\nc1,abc\n", "auc_mtx.csv: cannot be read as an AUC matrix"),
        ("regulons.csv", ",,Enrichment\n,,TargetGenes\nTF,MotifID,\n", "regulons.csv: not pySCENIC's enriched-motif"),
        (
            "regulons.csv",
            ",,Enrichment,Enrichment,Enrichment,Enrichment,Enrichment\n"
            ",,Context,TargetGenes,NES,MotifSimilarityQvalue,OrthologousIdentity\nTF,MotifID,,,,,\n"
            "SPI1,m1,\"frozenset({'activating'})\",\"[('G1', __import__('os'))]\",3.5,0.0,1.0\n",
            "regulons.csv: cannot be read as regulons .* a cell is not a list of \\(gene, weight\\) pairs",
        ),
        (
            "reg.csv",
            ",,Enrichment,Enrichment,Enrichment,Enrichment,Enrichment\n"
            ",,Context,TargetGenes,NES,MotifSimilarityQvalue,OrthologousIdentity\nTF,MotifID,,,,,\n",
            "reg.csv: no enriched motif, so no regulon",
        ),
        ("reg.yaml", "- [unclosed\n", "reg.yaml: cannot be read as regulons"),
        ("reg.yaml", "name: SPI1\n", "reg.yaml: holds dict, not a list of regulons"),
        ("reg.json", '{"SPI1(+)": "G1"}', "reg.json: not regulons"),
        ("broken.loom", "not a loom", "broken.loom: cannot be read as a loom"),
    ],
)
def test_unreadable_files_are_named_with_what_to_do(tmp_path, name, text, match):
    folder = _small_folder(tmp_path, regulons=None if name.startswith("reg") else "gmt")
    (folder / name).write_text(text)
    _refused(match, folder)


def _expression_file(path: Path, cells: list[str]) -> Path:
    counts = np.random.default_rng(0).poisson(2.0, (len(cells), 3)).astype(np.float32)
    adata = ad.AnnData(
        counts, obs=pd.DataFrame({"type": "B"}, index=cells), var=pd.DataFrame(index=["SPI1", "G1", "G2"])
    )
    adata.write_h5ad(path)
    return path


def test_expression_without_the_auc_cells_or_the_column_is_refused(tmp_path):
    folder = _small_folder(tmp_path)
    partial = _expression_file(tmp_path / "partial.h5ad", CELLS[:30])
    assert (
        "c30" in _refused("partial.h5ad: lacks 10 of the 40 cells of auc_mtx.csv", folder, expression=partial).message
    )
    complete = _expression_file(tmp_path / "complete.h5ad", CELLS)
    _refused("complete.h5ad: no cell-type column 'cluster'", folder, expression=complete, cell_type_key="cluster")


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    folder = _small_folder(tmp_path, regulons=None)
    (folder / "regulons.dat").write_bytes(pickle.dumps([_RunsACommand(marker)]))
    refused = _refused("regulons.dat: refused: the pickle would build something other than regulons", folder)
    assert "system is not part of pySCENIC's regulons" in refused.message
    (folder / "regulons.dat").unlink()
    (folder / "regulons.yaml").write_text(f"- !!python/object/apply:os.system ['touch {marker}']\n")
    _refused("regulons.yaml: refused: the YAML would build something other than regulons", folder)
    assert not marker.exists()
