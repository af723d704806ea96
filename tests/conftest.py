"""Shared fixtures: paths to ../shared/data, a Dask client, and synthetic data with planted links."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import gridapp.core  # noqa: F401  (applies the compatibility restorations first)
from gridapp.core.parallel import dask_client
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import Result, run, write_outputs

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GRIDAPP_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Dashboards started by tests do not compute the demo's result for their first page (a few CPU minutes each);
# tests/app/test_first_screen.py turns it on where it is the subject.
os.environ["GRIDAPP_DEMO_RESULT"] = "0"
PYSCENIC_RESOURCES = Path(__import__("resources").__file__).parent / "tests"
#: the demo's B cells and CD14+ monocytes on 150 genes, pruned by the DoRothEA prior (seed 2: pySCENIC seeds its
#: dip test only for a nonzero seed); computed once per session by :func:`demo_subset`
DEMO_SUBSET = RunParams.demo(cell_types=("B cells", "CD14+ Monocytes"), n_top_genes=150, seed=2)


def shared(relative: str) -> Path:
    """A file under ../shared/data, or skip the test saying it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{relative} (shared test data is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def client():
    """One local Dask cluster (2 single-threaded workers) for the whole test session."""
    with dask_client(n_workers=2) as dask:
        yield dask


@pytest.fixture(scope="session")
def demo_subset(client, tmp_path_factory) -> tuple[Result, Path]:
    """:data:`DEMO_SUBSET` run once for the whole session and written out: ``(result, folder)``.

    Several modules read the same run (the cache, pySCENIC's readers, the imports, the views); a test that
    changes a file copies it first.
    """
    result = run(DEMO_SUBSET, client=client, cache_dir=tmp_path_factory.mktemp("demo-subset-motifs"))
    out = tmp_path_factory.mktemp("demo-subset")
    write_outputs(result, out, cell_type_key="cluster_id")
    return result, out


@pytest.fixture(scope="session")
def planted() -> tuple[ad.AnnData, list[str], dict[str, list[str]]]:
    """300 cells: 4 TFs each driving 8 targets, 2 idle TFs and 20 noise genes (log-scale values).

    Returns the AnnData, the TF list and the planted TF → targets map.
    """
    rng = np.random.default_rng(7)
    n_cells = 300
    tfs = ["SPI1", "CEBPB", "TCF7", "GATA1", "IDLE1", "IDLE2"]
    driven = {tf: [f"{tf}_T{i}" for i in range(8)] for tf in tfs[:4]}
    columns = {tf: rng.gamma(2.0, 1.0, n_cells) for tf in tfs}
    for tf, targets in driven.items():
        for target in targets:
            columns[target] = 0.8 * columns[tf] + rng.normal(0, 0.25, n_cells)
    for i in range(20):
        columns[f"NOISE{i}"] = rng.gamma(2.0, 1.0, n_cells)
    frame = np.log1p(np.clip(pd.DataFrame(columns), 0, None))
    adata = ad.AnnData(frame.to_numpy(np.float32), var=pd.DataFrame(index=frame.columns))
    adata.obs_names = [f"cell{i}" for i in range(n_cells)]
    return adata, tfs, driven


#: lines tests log for people (``record_property("log", line)``), printed at the end of the session: a test's own
#: output is not shown when pytest-xdist runs it in a worker, but its report's properties reach this process
LOGGED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        LOGGED.extend(value for name, value in report.user_properties if name == "log")


def pytest_terminal_summary(terminalreporter) -> None:
    for line in LOGGED:
        terminalreporter.write_line(line)
