"""GRN inference on an existing Dask cluster (``--dask-scheduler``): a real ``dask scheduler`` and
``dask worker`` started by the test give the same network as the local cluster with the same seed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from gridapp.cli import main
from gridapp.core import parallel
from tests.processes import free_port, running

SUBSET = ["--cell-type-key", "cluster_id", "--cell-types", "CD14+ Monocytes,B cells", "--n-top-genes", "150"]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``tcp://`` address of a scheduler with two single-threaded worker processes."""
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)]
    workers = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1"]
    workers += ["--local-directory", str(logs)]
    with (
        running([*dask, "--dashboard-address", ":0"], log=logs / "scheduler.log"),
        running(workers, log=logs / "workers.log"),
    ):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with Client(address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"the Dask workers did not join {address}: {(logs / 'workers.log').read_text()[-2000:]}")
        yield address


def _network(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "adjacencies.csv").sort_values(["TF", "target"], ignore_index=True)


@pytest.mark.slow
def test_a_run_on_an_existing_cluster_gives_the_local_network(scheduler, tmp_path):
    remote, local = tmp_path / "remote", tmp_path / "local"
    assert main(["run", "--demo", *SUBSET, "--dask-scheduler", scheduler, "--out", str(remote)]) == 0
    assert main(["run", "--demo", *SUBSET, "--workers", "2", "--out", str(local)]) == 0
    on_cluster, on_machine = _network(remote), _network(local)
    assert len(on_cluster) > 100
    pd.testing.assert_frame_equal(on_cluster, on_machine)


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1)  # nothing listens there: the error, sooner
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["run", "--demo", *SUBSET, "--dask-scheduler", address, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert address in err and "Traceback" not in err
