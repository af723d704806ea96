"""The server's worker pool: started in the background, warm, niced, and used by the jobs of the door."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

import psutil
import pytest

from gridapp.jobs.pool import WorkerPool
from gridapp.jobs.runner import JobDoor

pytestmark = pytest.mark.slow
ENGINE = "gridapp.core.methods.boosting"


@pytest.fixture(scope="module")
def pool():
    started = WorkerPool(n_workers=1, niceness=7).start()
    assert started.wait(180) is not None, "the pool did not start"
    yield started
    started.close()


def test_jobs_through_the_door_compute_on_the_warm_niced_pool(pool):
    door = JobDoor(pool=pool)
    with door.enter() as job:
        assert job.client.scheduler.address == pool.address
        niceness = job.client.run(lambda: os.getpriority(os.PRIO_PROCESS, 0))
        compiled = job.client.run(lambda: len(importlib.import_module(ENGINE).boost_targets.signatures))
    assert list(niceness.values()) == [7]
    assert all(compiled.values())  # the engine's kernels compiled (or loaded) before the first job


def test_a_job_forked_from_the_server_computes_on_the_pool(pool):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a dashboard job: a fork of the server that started the pool
        os.close(read)
        try:
            with JobDoor(pool=pool).enter() as job:
                os.write(write, job.client.scheduler.address.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as reader:
        seen = reader.read()
    os.waitpid(pid, 0)
    assert seen == pool.address  # not a cluster of its own


def test_a_door_without_a_ready_pool_starts_its_own_cluster():
    idle = WorkerPool()  # never started: no address yet
    with JobDoor(pool=idle, n_workers=1).enter() as job:
        assert job.client.scheduler.address and idle.address is None


def test_the_pool_ends_with_the_server_that_started_it():
    server = (
        "import os; from gridapp.jobs.pool import WorkerPool; pool = WorkerPool(n_workers=1).start(); "
        "print(pool.wait(180), pool._process.pid, flush=True); os._exit(0)"  # the server dies without closing it
    )
    printed = subprocess.run([sys.executable, "-c", server], capture_output=True, text=True, timeout=240, check=True)
    address, pid = printed.stdout.split()
    assert address.startswith("tcp://")
    deadline = time.monotonic() + 60
    while not _ended(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ended(int(pid))


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped yet included)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
