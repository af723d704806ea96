"""Hostile input, through the CLI and the dashboard's upload and path handling: each gets a clear
message (no traceback, exit 2 in the CLI) and earlier results stay as they were.

The tables below are the list: add a row for every new kind of bad input met in the wild.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import loompy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gridapp.app.config import AppConfig
from gridapp.app.form import params_from_form, save_upload
from gridapp.cli import main
from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.gate import safe_name

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO = DATA / "demo" / "kang2018_donor1016.h5ad"
TFS = DATA / "demo" / "tfs_hg38_in_kang.txt"


def _small(n_cells: int = 60, n_genes: int = 120) -> ad.AnnData:
    return ad.read_h5ad(DEMO)[:n_cells, :n_genes].copy()


def _html(path: Path) -> None:
    path.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    path.write_bytes(DEMO.read_bytes()[: DEMO.stat().st_size // 3])


def _loom_without_genes(path: Path) -> None:
    adata = _small()
    matrix = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    loompy.create(str(path), matrix.T, {"Name": np.asarray(adata.var_names)}, {"CellID": np.asarray(adata.obs_names)})


def _all_nan(path: Path) -> None:
    adata = _small()
    adata.X = np.full(adata.shape, np.nan, dtype=np.float32)
    adata.write_h5ad(path)


def _negative(path: Path) -> None:
    adata = _small()
    adata.X = adata.X.toarray() - 1.0
    adata.write_h5ad(path)


def _duplicate_genes(path: Path) -> None:
    n_genes = 100_000
    matrix = sp.random(40, n_genes, density=0.01, format="csr", dtype=np.float32, random_state=0)
    matrix.data = np.ceil(matrix.data * 10)
    obs = pd.DataFrame({"cell_type": ["a", "b"] * 20}, index=[f"cell{i}" for i in range(40)])
    ad.AnnData(matrix, obs=obs, var=pd.DataFrame(index=["GENE"] * n_genes)).write_h5ad(path)


def _disjoint_subset(path: Path) -> None:
    adata = _small()
    adata.obs["donor"] = np.where(adata.obs["cluster_id"].astype(str) == "B cells", "d1", "d2")
    adata.write_h5ad(path)


#: (case, file name, how to write it, CLI arguments after the file, what the CLI says, what an upload says
#: — ``None`` when the upload is a valid file and only the run refuses it)
HOSTILE_FILES: list[tuple[str, str, Callable[[Path], None], list[str], str, str | None]] = [
    ("HTML saved as .h5ad", "page.h5ad", _html, [], "HTML", "HTML"),
    ("empty file", "empty.h5ad", _empty, [], "empty", "empty"),
    ("truncated h5ad", "cut.h5ad", _truncated, [], "truncated", "truncated"),
    ("loom without a Gene attribute", "genes.loom", _loom_without_genes, [], "no Gene row attribute", "Gene"),
    ("all-NaN matrix", "nan.h5ad", _all_nan, [], "NaN", "NaN"),
    ("negative counts", "negative.h5ad", _negative, [], "negative values", "negative values"),
    ("100,000 duplicate gene names", "duplicates.h5ad", _duplicate_genes, [], "TFs are in the data", None),
    (
        "zero cells after subsetting",
        "disjoint.h5ad",
        _disjoint_subset,
        ["--donor-key", "donor", "--donors", "d2", "--cell-type-key", "cluster_id", "--cell-types", "B cells"],
        "0 cells",
        None,
    ),
    ("non-UTF-8 file name", "caf\udce9.h5ad", _html, [], "HTML", "HTML"),
    ("very long file name", "x" * 240 + ".h5ad", _html, [], "HTML", "HTML"),
]
IDS = [row[0] for row in HOSTILE_FILES]


@pytest.fixture
def earlier(tmp_path) -> Path:
    """An output folder holding an earlier result."""
    folder = tmp_path / "earlier"
    folder.mkdir()
    (folder / "adjacencies.csv").write_text("TF,target,importance\nSPI1,CD14,1.0\n")
    return folder


@pytest.mark.parametrize(("case", "name", "write", "extra", "says", "_upload"), HOSTILE_FILES, ids=IDS)
def test_the_cli_refuses_with_one_clear_message_and_keeps_earlier_outputs(
    tmp_path, capsys, earlier, case, name, write, extra, says, _upload
):
    path = tmp_path / name
    write(path)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    code = main(["run", "--input", str(path), "--tfs", str(TFS), *extra, "--out", str(earlier), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left behind


def _config(tmp_path: Path, max_upload_mb: int = 500) -> AppConfig:
    return AppConfig(
        data_roots=(DATA,),
        cache=ResultCache(tmp_path / "cache"),
        upload_dir=tmp_path / "uploads",
        max_upload_mb=max_upload_mb,
    )


def _as_upload(path: Path) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.mark.parametrize(("case", "name", "write", "_extra", "_cli", "says"), HOSTILE_FILES, ids=IDS)
def test_an_upload_is_refused_with_a_message_or_kept_under_a_safe_name(tmp_path, case, name, write, _extra, _cli, says):
    config = _config(tmp_path)
    space = config.upload_dir / "user"
    kept = save_upload(_as_upload(DEMO), DEMO.name, config, space)  # an earlier upload
    source = tmp_path / "source"
    write(source)
    if says is None:
        saved = save_upload(_as_upload(source), name, config, space)
        assert saved.parent.parent == space and saved.name == safe_name(name)
    else:
        with pytest.raises(GridappError, match=says):
            save_upload(_as_upload(source), name, config, space)
    assert kept.read_bytes() == DEMO.read_bytes()
    assert not [p for p in space.rglob(".*")]  # no partial file left


def test_an_upload_over_the_limit_is_refused_before_it_is_written(tmp_path):
    config = _config(tmp_path, max_upload_mb=1)
    with pytest.raises(GridappError, match="over the 1 MB limit"):
        save_upload("data:;base64," + base64.b64encode(bytes(3 * 2**20)).decode(), "big.h5ad", config, tmp_path / "u")
    assert not config.upload_dir.exists() or not list(config.upload_dir.iterdir())


def _escape_by_symlink(tmp_path: Path) -> str:
    outside = tmp_path / "outside.h5ad"
    outside.write_bytes(DEMO.read_bytes())
    link = tmp_path / "uploads" / "user" / "link.h5ad"  # an upload space is a root for its user
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    return str(link)


#: (case, the dataset path the browser sends): every one must be refused as outside the data folders
HOSTILE_PATHS: list[tuple[str, Callable[[Path], str]]] = [
    ("parent-directory escape", lambda tmp: str(DATA / ".." / ".." / "etc" / "passwd")),
    ("relative escape", lambda tmp: "../../../../etc/passwd"),
    ("absolute path outside the roots", lambda tmp: "/etc/passwd"),
    ("symlink out of the upload folder", _escape_by_symlink),
]


@pytest.mark.parametrize(("case", "dataset"), HOSTILE_PATHS, ids=[row[0] for row in HOSTILE_PATHS])
def test_paths_from_the_browser_outside_the_data_roots_are_refused(tmp_path, case, dataset):
    form = {"input": dataset(tmp_path), "tfs": str(TFS), "method": "grnboost2-fast", "prune": "none"}
    with pytest.raises(GridappError, match="outside the data folders"):
        params_from_form(_config(tmp_path), form)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "file"),
        ("résumé data.h5ad", "r_sum_data.h5ad"),
        ("x" * 300 + ".csv.gz", "x" * 73 + ".csv.gz"),
    ],
)
def test_upload_and_download_names_are_sanitised(name, safe):
    assert safe_name(name) == safe
