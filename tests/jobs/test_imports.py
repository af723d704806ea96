"""Opening pySCENIC outputs (SCope loom, or regulons + AUC tables) without recomputing."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.imports import is_pyscenic_output, read_pyscenic_output


@pytest.fixture(scope="module")
def outputs(demo_subset, tmp_path_factory):
    result, out = demo_subset
    adjacencies = pd.read_csv(out / "adjacencies.csv")
    scope = tmp_path_factory.mktemp("scope")
    adjacencies.to_csv(scope / "adj.tsv", sep="\t", index=False)
    shutil.copy(out / "result.loom", scope / "pbmc_scenic.loom")
    tables = tmp_path_factory.mktemp("tables")
    adjacencies.to_csv(tables / "adj.csv", index=False)
    for name in ("regulons.gmt", "auc.csv"):
        shutil.copy(out / name, tables / name)
    return result, scope, tables, out


def _weights(regulons) -> dict:
    return {regulon.name: dict(regulon.gene2weight) for regulon in regulons}


@pytest.mark.slow  # its `outputs` fixture runs a whole pipeline
def test_scope_loom_gives_auc_regulons_and_cell_types(outputs):
    result, scope, _, _ = outputs
    assert is_pyscenic_output(scope)
    imported = read_pyscenic_output(scope)
    expected = result.adata.obsm["X_aucell"]
    auc = imported.adata.obsm["X_aucell"].loc[expected.index, expected.columns]
    np.testing.assert_allclose(auc.to_numpy(), expected.to_numpy())
    assert {r.name for r in imported.regulons} == set(expected.columns)
    for original in result.regulons:
        [same] = [r for r in imported.regulons if r.name == original.name]
        assert set(same.genes) == set(original.genes) & set(result.adata.var_names)
    assert set(imported.adata.obs["cell_type"]) == {"B cells", "CD14+ Monocytes"}
    pd.testing.assert_frame_equal(imported.adjacencies, result.adjacencies, check_exact=False, rtol=1e-12)
    assert {"X_umap_aucell", "X_tsne_aucell", "X_aucell_binary"} <= set(imported.adata.obsm)


@pytest.mark.slow  # its `outputs` fixture runs a whole pipeline
def test_tables_without_expression_are_stored_and_reopened(outputs, tmp_path):
    result, _, tables, _ = outputs
    cache = ResultCache(tmp_path)
    key = cache.import_pyscenic(tables)
    assert cache.import_pyscenic(tables) == key and len(cache.runs()) == 1
    stored = cache.load(key)
    assert list(stored.adata.obsm["X_aucell"].columns) == list(result.adata.obsm["X_aucell"].columns)
    assert stored.summary["params"]["method"] == "imported" and not (cache.path(key) / "result.loom").exists()


@pytest.mark.parametrize("name", ["regulon_targets.csv", "regulons.csv"])  # the name today, and earlier versions'
@pytest.mark.slow  # its `outputs` fixture runs a whole pipeline
def test_gridapps_regulon_table_keeps_its_weights(outputs, tmp_path, name):
    result, _, tables, out = outputs
    for table in ("adj.csv", "auc.csv"):
        shutil.copy(tables / table, tmp_path / table)
    shutil.copy(out / "regulon_targets.csv", tmp_path / name)
    assert _weights(read_pyscenic_output(tmp_path).regulons) == _weights(result.regulons)


@pytest.mark.slow  # its `outputs` fixture runs a whole pipeline
def test_a_gridapp_output_folder_reopens_with_its_weights_and_thresholds(outputs):
    result, _, _, out = outputs
    imported = read_pyscenic_output(out)
    assert _weights(imported.regulons) == _weights(result.regulons)
    thresholds = [
        dict(zip(r.uns["aucell"]["regulons"], r.uns["aucell"]["thresholds"])) for r in (imported.adata, result.adata)
    ]
    assert thresholds[0] == pytest.approx(thresholds[1], rel=1e-12)
    assert f"{len(result.regulons)} kept as stored in result.loom" in " ".join(imported.summary["notes"])


def test_folder_without_adjacencies_is_refused(tmp_path):
    (tmp_path / "auc.csv").write_text("cell,A(+)\nc1,0.1\n")
    assert not is_pyscenic_output(tmp_path)
    with pytest.raises(GridappError, match="no adjacencies file"):
        read_pyscenic_output(tmp_path)
