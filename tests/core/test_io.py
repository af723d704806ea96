"""Reading every supported format, finding symbols, and refusing bad files with a clear message."""

from __future__ import annotations

import gzip

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from gridapp.core.errors import GridappError
from gridapp.core.io import check_values, read_dataset
from tests.conftest import shared

GENES = ["SPI1", "CEBPB", "TCF7", "ACTB", "GAPDH"]
CELLS = [f"AAACCTGAGAAACC{i:02d}-1" for i in range(6)]


def _counts() -> np.ndarray:
    return np.random.default_rng(0).poisson(3, (len(CELLS), len(GENES))).astype(np.float32)


def test_h5ad_round_trip(tmp_path):
    path = tmp_path / "x.h5ad"
    ad.AnnData(_counts(), obs=pd.DataFrame(index=CELLS), var=pd.DataFrame(index=GENES)).write_h5ad(path)
    adata, report = read_dataset(path, tfs=["SPI1"])
    assert report.format == "h5ad" and report.values == "counts"
    assert list(adata.var_names) == GENES and adata.n_obs == len(CELLS)


@pytest.mark.parametrize("cells_by_genes", [True, False])
@pytest.mark.parametrize("suffix", [".csv", ".tsv.gz"])
def test_table_orientation_is_detected_and_stated(tmp_path, cells_by_genes, suffix):
    frame = pd.DataFrame(_counts(), index=CELLS, columns=GENES)
    frame = frame if cells_by_genes else frame.T
    path = tmp_path / f"table{suffix}"
    frame.to_csv(path, sep="\t" if ".tsv" in suffix else ",")
    adata, report = read_dataset(path, tfs=["SPI1", "TCF7"])
    assert list(adata.var_names) == GENES and list(adata.obs_names) == CELLS
    assert report.orientation.startswith("cells × genes" if cells_by_genes else "genes × cells")
    assert np.allclose(adata.X, _counts())


def test_loom_in_scope_layout():
    adata, report = read_dataset(shared("singlecell/expr_mat_small.loom"))
    assert report.format == "loom" and adata.n_obs == 100 and adata.var_names.is_unique
    assert report.values == "counts"


def test_loom_without_gene_attribute_is_refused(tmp_path):
    path = tmp_path / "nogene.loom"
    with h5py.File(path, "w") as handle:
        handle["matrix"] = _counts().T
        handle.create_group("row_attrs")["Symbol"] = np.array(GENES, dtype="S")
        handle.create_group("col_attrs")["CellID"] = np.array(CELLS, dtype="S")
        handle.create_group("layers")
    with pytest.raises(GridappError, match="no Gene row attribute"):
        read_dataset(path)


def test_10x_mtx_folder(tmp_path):
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    with gzip.open(folder / "matrix.mtx.gz", "wb") as handle:
        scipy.io.mmwrite(handle, sp.coo_matrix(_counts().T))
    features = pd.DataFrame({"id": [f"ENSG{i:011d}" for i in range(5)], "name": GENES, "type": "Gene Expression"})
    features.to_csv(folder / "features.tsv.gz", sep="\t", header=False, index=False)
    pd.Series(CELLS).to_csv(folder / "barcodes.tsv.gz", header=False, index=False)
    adata, report = read_dataset(folder)
    assert report.format == "10x-mtx" and list(adata.var_names) == GENES


def test_10x_h5(tmp_path):
    path = tmp_path / "filtered.h5"
    matrix = sp.csc_matrix(_counts().T)
    with h5py.File(path, "w") as handle:
        group = handle.create_group("matrix")
        group["data"], group["indices"], group["indptr"] = matrix.data, matrix.indices, matrix.indptr
        group["shape"] = np.array(matrix.shape)
        group["barcodes"] = np.array(CELLS, dtype="S")
        features = group.create_group("features")
        features["id"] = np.array([f"ENSG{i:011d}" for i in range(5)], dtype="S")
        features["name"] = np.array(GENES, dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * 5, dtype="S")
        features["genome"] = np.array(["GRCh38"] * 5, dtype="S")
    adata, report = read_dataset(path)
    assert report.format == "10x-h5" and list(adata.var_names) == GENES


@pytest.mark.needs_shared
def test_kang_ensembl_ids_switch_to_the_feature_symbols():
    tfs = (shared("tfs/allTFs_hg38.txt")).read_text().split()
    adata, report = read_dataset(shared("singlecell/kang2018_muscat_ref_5donors.h5ad"), tfs=tfs)
    assert report.gene_symbols == "var['feature']" and report.values == "counts"
    assert {"SPI1", "CEBPB", "TCF7"} <= set(adata.var_names)
    assert adata.var["gene_ids"].str.startswith("ENSG").all() and adata.var_names.is_unique


@pytest.mark.needs_shared
def test_scaled_x_falls_back_to_raw():
    adata, report = read_dataset(shared("singlecell/scanpy_10x_pbmc68k_reduced.h5ad"))
    assert report.values == "log-normalised" and any(".raw" in note for note in report.notes)
    assert adata.X.min() >= 0


def test_duplicate_symbols_are_made_unique_with_a_note(tmp_path):
    path = tmp_path / "dups.h5ad"
    var = pd.DataFrame({"symbol": ["SPI1", "SPI1", "TCF7", "ACTB", "ACTB"]}, index=[f"ENSG{i:011d}" for i in range(5)])
    ad.AnnData(_counts(), obs=pd.DataFrame(index=CELLS), var=var).write_h5ad(path)
    adata, report = read_dataset(path, gene_symbols="symbol")
    assert adata.var_names.is_unique and "SPI1" in adata.var_names
    assert any("2 duplicated gene symbols" in note for note in report.notes)


def test_log_normalised_values_are_recognised():
    adata = ad.AnnData(np.log1p(_counts() * 1.7))
    assert check_values(adata) == "log-normalised"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        (b"\x00\x01\x02binary junk", "not h5ad, loom, 10x"),
    ],
)
def test_files_that_are_not_data_are_refused(tmp_path, content, message):
    path = tmp_path / "data.h5ad"
    path.write_bytes(content)
    with pytest.raises(GridappError, match=message):
        read_dataset(path)


def test_truncated_h5ad_is_refused(tmp_path):
    good = tmp_path / "good.h5ad"
    ad.AnnData(_counts(), obs=pd.DataFrame(index=CELLS), var=pd.DataFrame(index=GENES)).write_h5ad(good)
    bad = tmp_path / "bad.h5ad"
    bad.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(GridappError, match=r"bad\.h5ad"):
        read_dataset(bad)


@pytest.mark.parametrize(("value", "message"), [(np.nan, "NaN or infinite"), (-3.0, "negative values")])
def test_bad_values_are_refused(value, message):
    matrix = _counts()
    matrix[2, 3] = value
    with pytest.raises(GridappError, match=message):
        check_values(ad.AnnData(matrix))
