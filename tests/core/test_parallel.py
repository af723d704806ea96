"""GRN inference on an existing Dask cluster (real scheduler and worker processes) equals the local run."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridapp.core import parallel
from gridapp.core.methods import infer
from gridapp.core.parallel import dask_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scheduler_address(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0", *common],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    ]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    processes.append(
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--nworkers", "2", "--nthreads", "1", *common],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        yield json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


def test_existing_cluster_gives_the_local_edges(planted, client, scheduler_address):
    adata, tfs, _ = planted
    local = infer(adata, tfs, seed=4, client=client)
    with dask_client(scheduler_address) as remote:
        remote.wait_for_workers(2, timeout=60)
        on_cluster = infer(adata, tfs, seed=4, client=remote)
    assert on_cluster.equals(local)


def _faults_filling_freed_blocks(blocks: int, size: int) -> int:
    """Minor page faults of this thread while it fills and frees ``blocks`` blocks of ``size`` bytes in turn."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(blocks):
        block = b"\x01" * size
        del block
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the worker's malloc settings are glibc's")
def test_local_workers_reuse_freed_memory_instead_of_faulting_it_in_anew(client):
    size = 16 * 2**20
    faults = client.submit(_faults_filling_freed_blocks, 10, size, pure=False).result()
    # with Dask's default settings each block is mapped anew: 10 blocks' pages
    assert faults < 3 * size / resource.getpagesize()


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    from gridapp.core.errors import GridappError

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1)  # nothing listens there: the error, sooner
    with pytest.raises(GridappError, match="Cannot reach the Dask scheduler"), dask_client("tcp://127.0.0.1:9"):
        pass


def test_a_cluster_too_slow_to_shut_down_warns_and_the_process_still_ends_cleanly():
    """A run whose local cluster misses its shutdown timeout finishes with a warning, not an error."""
    script = (
        "from distributed import LocalCluster\n"
        "from gridapp.core.parallel import close_cluster\n"
        "close_cluster(LocalCluster(n_workers=1, processes=True, dashboard_address=None), timeout=1e-3)\n"
        "print('after the cluster')\n"
    )
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert ended.returncode == 0, ended.stderr[-2000:]
    assert "after the cluster" in ended.stdout and "did not shut down within 0 s" in ended.stderr


def test_workers_get_the_close_timeout_to_end_and_no_traceback_is_printed(tmp_path):
    """A worker that needs 6 s to end (more than distributed's 5 s) ends on its own, without a traceback."""
    marker = tmp_path / "ended"
    script = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from distributed import WorkerPlugin\n"
        "from gridapp.core.parallel import dask_client\n"
        "class SlowToEnd(WorkerPlugin):\n"
        "    async def teardown(self, worker):\n"
        "        await asyncio.sleep(6)\n"
        f"        Path({str(marker)!r}).write_text('ended')\n"
        "with dask_client(n_workers=1) as client:\n"
        "    client.register_plugin(SlowToEnd(), name='slow-to-end')\n"
    )
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert ended.returncode == 0, ended.stderr
    assert marker.read_text() == "ended" and "Traceback" not in ended.stderr, ended.stderr
