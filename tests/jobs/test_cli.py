"""The CLI end to end on the embedded demo, and every bad input as one clear line (exit 2)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import loompy
import numpy as np
import pandas as pd
import psutil
import pytest

from gridapp.cli import build_parser, main, params_from_args
from gridapp.core.motifs import CTXCORE_SUFFIX
from gridapp.core.subset import read_tfs
from tests.conftest import PYSCENIC_RESOURCES
from tests.processes import ROOT

DEMO_SUBSET = [
    "--cell-type-key",
    "cluster_id",
    "--cell-types",
    "CD14+ Monocytes,B cells",
    "--n-top-genes",
    "300",
    "--workers",
    "2",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    code = main(["run", "--demo", *DEMO_SUBSET, "--out", str(out)])
    return code, out


@pytest.mark.slow
def test_demo_writes_every_output(demo_run):
    code, out = demo_run
    assert code == 0
    expected = {
        "adjacencies.csv",
        "regulon_targets.csv",
        "regulons.gmt",
        "regulons.yaml",
        "auc.csv",
        "auc_binary.csv",
        "result.h5ad",
        "result.loom",
        "run.json",
        "celltype_mean_auc.csv",
        "celltype_mean_auc_z.csv",
        "celltype_rss.csv",
        "celltype_tf_expression.csv",
        "celltype_tf_detected.csv",
    }
    assert expected <= {p.name for p in out.iterdir()}
    assert not {"regulons.csv", "regulons.json"} & {p.name for p in out.iterdir()}
    adjacencies = pd.read_csv(out / "adjacencies.csv")
    assert list(adjacencies.columns) == ["TF", "target", "importance"]
    assert adjacencies["importance"].is_monotonic_decreasing
    regulons = pd.read_csv(out / "regulon_targets.csv")
    assert regulons["regulon"].str.fullmatch(r"[A-Za-z0-9-]+\(\+\)").all()
    auc = pd.read_csv(out / "auc.csv", index_col=0)
    assert set(auc.columns) == set(regulons["regulon"])
    result = ad.read_h5ad(out / "result.h5ad")
    assert {"X_aucell", "X_aucell_binary", "X_umap_aucell", "X_tsne_aucell"} <= set(result.obsm)
    assert set(result.obs["cluster_id"]) == {"CD14+ Monocytes", "B cells"} and result.n_obs == auc.shape[0]
    np.testing.assert_allclose(result.obsm["X_aucell"].to_numpy(), auc.loc[result.obs_names].to_numpy())
    with loompy.connect(str(out / "result.loom"), validate=False) as loom:
        assert loom.shape == (result.n_vars, result.n_obs)
        assert "Gene" in loom.ra and "CellID" in loom.ca and "RegulonsAUC" in loom.ca
    summary = json.loads((out / "run.json").read_text())
    assert summary["counts"]["cells"] == result.n_obs and summary["counts"]["regulons"] == auc.shape[1]
    assert summary["input"]["values"] == "counts" and summary["input"]["gene_symbols"] == "var['feature']"
    assert set(summary["seconds"]) >= {"load", "grn", "prune", "aucell", "write"}
    assert summary["packages"]["scikit-learn"] == "1.2.2" and len(summary["input"]["sha256"]) == 64
    assert 0 < summary["aucell"]["auc_threshold"] <= 0.05


@pytest.mark.slow
def test_existing_output_is_kept_unless_overwrite(demo_run, capsys):
    _, out = demo_run
    before = (out / "run.json").read_text()
    assert main(["run", "--demo", "--out", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (out / "run.json").read_text() == before


def _h5ad(path, genes, matrix=None, obs=None):
    rng = np.random.default_rng(0)
    matrix = rng.poisson(3, (60, len(genes))).astype(np.float32) if matrix is None else matrix
    obs = obs if obs is not None else pd.DataFrame({"donor": ["a", "b"] * 30}, index=[f"c{i}" for i in range(60)])
    ad.AnnData(matrix, obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)
    return path


HUMAN = ["SPI1", "CEBPB", "TCF7", "LEF1", "GATA1", "IRF8", "ACTB", "GAPDH", "CD14", "LYZ"]


@pytest.fixture
def inputs(tmp_path):
    tfs = tmp_path / "tfs.txt"
    tfs.write_text("\n".join(HUMAN[:6]))
    return tmp_path, tfs


def _fails(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in err and "Traceback" not in err
    return err


def _argv(data, tfs, tmp, *extra):
    return ["run", "--input", str(data), "--tfs", str(tfs), *extra, "--out", str(tmp / "o")]


def test_html_saved_as_h5ad(inputs, capsys):
    tmp, tfs = inputs
    page = tmp / "data.h5ad"
    page.write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    _fails(capsys, _argv(page, tfs, tmp), "HTML")


def test_empty_file(inputs, capsys):
    tmp, tfs = inputs
    (tmp / "empty.h5ad").write_bytes(b"")
    _fails(capsys, _argv(tmp / "empty.h5ad", tfs, tmp), "empty")


@pytest.mark.parametrize(
    ("subset", "message"),
    [
        (["--donor-key", "patient", "--donors", "a"], "No obs column 'patient'"),
        (["--donor-key", "donor", "--donors", "zz"], "has no value 'zz'"),
    ],
)
def test_unknown_obs_column_or_value(inputs, capsys, subset, message):
    tmp, tfs = inputs
    data = _h5ad(tmp / "d.h5ad", HUMAN)
    err = _fails(capsys, _argv(data, tfs, tmp, *subset), message)
    assert "donor" in err  # the hint lists what there is


def test_subset_with_too_few_cells(inputs, capsys):
    tmp, tfs = inputs
    obs = pd.DataFrame({"donor": ["a"] * 55 + ["b"] * 5}, index=[f"c{i}" for i in range(60)])
    data = _h5ad(tmp / "d.h5ad", HUMAN, obs=obs)
    _fails(capsys, _argv(data, tfs, tmp, "--donor-key", "donor", "--donors", "b"), "holds 5 cells")


def test_no_tf_overlap(inputs, capsys):
    tmp, _ = inputs
    mouse = tmp / "mouse.txt"
    mouse.write_text("Spi1\nCebpb\nTcf7\nLef1\nGata1\nIrf8\n")
    data = _h5ad(tmp / "d.h5ad", HUMAN)
    _fails(capsys, _argv(data, mouse, tmp), "another species")


@pytest.mark.parametrize(("value", "message"), [(np.nan, "NaN"), (-1.0, "negative")])
def test_nan_or_negative_counts(inputs, capsys, value, message):
    tmp, tfs = inputs
    matrix = np.random.default_rng(0).poisson(3, (60, len(HUMAN))).astype(np.float32)
    matrix[3, 2] = value
    data = _h5ad(tmp / "d.h5ad", HUMAN, matrix=matrix)
    _fails(capsys, _argv(data, tfs, tmp), message)


def test_motif_database_of_another_species(inputs, capsys):
    tmp, _ = inputs
    genes = [g.capitalize() for g in HUMAN] + [f"Gm{i}" for i in range(40)]
    data = _h5ad(tmp / "mouse.h5ad", genes)
    tfs = tmp / "mouse_tfs.txt"
    tfs.write_text("\n".join(genes[:6]))
    database = PYSCENIC_RESOURCES / f"hg19-tss-centered-10kb-10species.mc9nr{CTXCORE_SUFFIX}"
    annotations = tmp / "annotations.tsv"
    annotations.write_text("motif\tTF\ndummy\tSpi1\n")
    extra = ["--motif-dbs", str(database), "--motif-annotations", str(annotations)]
    _fails(capsys, _argv(data, tfs, tmp, *extra), "another species")


def test_two_pruning_modes_at_once(inputs, capsys):
    """A prior with ``--prune none`` is refused (not silently dropped); motif databases and a prior together
    without ``--prune`` ask which pruning."""
    tmp, tfs = inputs
    _fails(capsys, ["run", "--demo", "--prior", str(tfs), "--prune", "none", "--out", str(tmp / "o")], "--prune prior")
    both = ["--prior", str(tfs), "--motif-dbs", str(tfs), "--motif-annotations", str(tfs)]
    _fails(capsys, ["run", "--demo", *both, "--out", str(tmp / "o")], "which pruning")


def test_missing_input_points_to_demo(tmp_path, capsys):
    err = _fails(capsys, ["run", "--out", str(tmp_path / "o")], "Missing --input and --tfs")
    assert "--demo" in err


def test_shipped_tf_lists_by_name(tmp_path, capsys):
    args = build_parser().parse_args(["run", "--demo", "--tfs", "human", "--out", str(tmp_path / "o")])
    human = read_tfs(params_from_args(args).tfs)
    assert len(human) > 1500 and {"SPI1", "CEBPB", "TCF7"} <= set(human)
    # the mouse list on human data stops at the gene step with the species named
    _fails(capsys, ["run", "--demo", "--tfs", "mouse", "--out", str(tmp_path / "o")], "another species")


def _hint(err):
    hints = [line.removeprefix("  hint: ").strip() for line in err.splitlines() if line.startswith("  hint: ")]
    assert len(hints) == 1 and hints[0], err
    return hints[0]


@pytest.mark.parametrize("out", ["/proc/forbidden", "{tmp}/file/o"])
def test_unwritable_output_folder_is_a_user_error(tmp_path, capsys, out):
    (tmp_path / "file").write_text("")
    out = out.format(tmp=tmp_path)
    err = _fails(capsys, ["run", "--demo", "--out", out], f"{out}: cannot create the output folder")
    assert str(Path(out).parent) in _hint(err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--runs", "0"], "--runs must be in [1, 100], got 0"),
        (["--min-occurrence", "0"], "--min-occurrence must be in (0, 1]"),
        (["--prior-confidence", "A,Z"], "--prior-confidence cannot be 'Z'"),
        (["--n-top-genes", "-5"], "--n-top-genes must be ≥ 1, got -5"),
        (["--auc-threshold", "7"], "--auc-threshold must be in (0, 1]"),
        (["--prior", "{tmp}/no_columns.tsv"], "no TF/target columns"),
        (["--prior", "{tmp}/empty.tsv"], "cannot read the prior table"),
        (["--prior", "{tmp}/missing.tsv"], "missing.tsv: no such file (--prior)"),
    ],
)
def test_bad_setting_names_the_problem_and_what_to_do(tmp_path, capsys, extra, message):
    (tmp_path / "no_columns.tsv").write_text("gene\tscore\nSPI1\t1\n")
    (tmp_path / "empty.tsv").write_text("")
    argv = ["run", "--demo", *(part.format(tmp=tmp_path) for part in extra), "--out", str(tmp_path / "o")]
    _hint(_fails(capsys, argv, message))


def _gridapp(argv, **options):
    """``python -m gridapp ARGV`` in a fresh process from the repository root, as a user types it."""
    return subprocess.Popen([sys.executable, "-m", "gridapp", *argv], cwd=ROOT, text=True, **options)


def test_first_line_of_a_user_error_is_the_error(tmp_path):
    argv = ["run", "--input", "missing.h5ad", "--tfs", "human", "--workers", "1", "--out", str(tmp_path / "o")]
    process = _gridapp(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 2 and err.startswith("error: missing.h5ad"), err


@pytest.mark.parametrize("writable", ["NUMBA_CACHE_DIR", "user cache", "neither"])
def test_kernels_import_with_an_unwritable_numba_cache(tmp_path, writable):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    given = tmp_path / "numba" if writable == "NUMBA_CACHE_DIR" else not_a_folder / "numba"
    user_cache = not_a_folder / "cache" if writable == "neither" else tmp_path / "cache"
    shown = subprocess.run(
        [sys.executable, "-c", "import gridapp.core.aucell, numba; print(numba.config.CACHE_DIR)"],
        cwd=ROOT,
        env={**os.environ, "NUMBA_CACHE_DIR": str(given), "XDG_CACHE_HOME": str(user_cache)},
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    chosen = Path(shown.stdout.strip())
    assert chosen.is_dir()
    if writable == "neither":  # a private temporary folder, made for this process
        assert chosen.parent == Path(tempfile.gettempdir()) and chosen.name.startswith("gridapp-numba-")
        shutil.rmtree(chosen)
    else:
        assert chosen == {"NUMBA_CACHE_DIR": given, "user cache": user_cache / "gridapp" / "numba"}[writable]


def test_sigterm_removes_the_scratch_folder_and_the_workers(tmp_path):
    argv = ["run", "--demo", "--n-top-genes", "200", "--workers", "2", "--out", str(tmp_path / "x")]
    with open(tmp_path / "stderr", "w+") as stderr:
        process = _gridapp(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        tree, seen = psutil.Process(process.pid), set()
        deadline = time.monotonic() + 600
        while len(seen) < 2 or not list(tmp_path.glob(".x.partial-*")):  # workers starting or running
            assert process.poll() is None and time.monotonic() < deadline
            seen |= set(tree.children(recursive=True))
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        while process.poll() is None:  # workers started meanwhile must end too
            seen |= set(tree.children(recursive=True))
            time.sleep(0.2)
        stderr.seek(0)
        lines = stderr.read().splitlines()
    # workers killed while they start may add a traceback of their own; the CLI says one line
    assert process.returncode == 143 and lines.count("terminated") == 1
    assert not list(tmp_path.glob(".x*")) and not (tmp_path / "x").exists()
    _, alive = psutil.wait_procs(seen, timeout=30)
    assert not alive


def test_a_run_without_dask_options_starts_no_worker_process(tmp_path):
    argv = ["run", "--demo", "--cell-type-key", "cluster_id", "--cell-types", "B cells", "--n-top-genes", "100"]
    argv += ["--out", str(tmp_path / "x")]
    process = _gridapp(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree, commands = psutil.Process(process.pid), set()
    while process.poll() is None:  # the GRN engine boosts in threads; DoRothEA pruning needs no cluster
        for child in tree.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                commands.add(" ".join(child.cmdline()))
        time.sleep(0.1)
    assert process.returncode == 0 and (tmp_path / "x" / "run.json").is_file()
    workers = [command for command in commands if "multiprocessing" in command or "distributed" in command]
    assert not workers  # Dask's worker processes are multiprocessing spawns (other tools may run, e.g. ldconfig)


def test_help_imports_no_computing_library():
    probe = (
        "import sys; from gridapp.cli import build_parser, main; build_parser().format_help(); "
        "print(sorted(m for m in ('pandas', 'anndata', 'dask', 'distributed', 'numba', 'pyscenic', 'dash') "
        "if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"
    usage = subprocess.run([sys.executable, "-m", "gridapp", "run", "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--method {" in usage.stdout and "grnboost2-fast" in usage.stdout
