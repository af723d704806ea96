"""The server's Dask worker pool: started once with the dashboard, warmed, and shared by its jobs.

Without it every job starts a local cluster of its own: worker processes that import the computing
layers and load the GRN engine's kernels before the first tree (10–40 s on 2 busy cores, most of a
small job). The pool is a process of its own (``python -m gridapp.jobs.pool``), so the server answers at
once and holds no Dask event-loop thread: the server forks its jobs, and a fork that lands while that
thread holds one of its locks leaves the job hanging before its first step. A job forked before the pool
is ready starts its own cluster, as before. The pool's workers run at the jobs' lower CPU priority, with
the engine's kernels loaded; the pool ends when the server does (its standard input closes).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading

import psutil

from gridapp.core.methods.boosting import warm_up

logger = logging.getLogger(__name__)
#: seconds the pool process is given to shut its cluster down before it is killed
CLOSE_WAIT_S = 30.0


def warm_worker(niceness: int) -> None:
    """Lower this worker's CPU priority to ``niceness`` and load the GRN engine's kernels."""
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), niceness))
    warm_up()


class WorkerPool:
    """A local Dask cluster, in a process of its own, kept for the life of the server.

    Parameters
    ----------
    n_workers
        Worker processes (single-threaded); the CPU cores when ``None``.
    niceness
        CPU priority of the workers (the jobs' own).
    """

    def __init__(self, n_workers: int | None = None, niceness: int = 0) -> None:
        self.n_workers = n_workers
        self.niceness = niceness
        self._address: str | None = None
        self._process: subprocess.Popen | None = None
        self._watch: psutil.Process | None = None  # the pool process, found by pid and start time
        self._started = threading.Event()

    def start(self) -> WorkerPool:
        """Start the pool's process; :attr:`address` is set (by a background thread) once its workers are warm."""
        command = [sys.executable, "-m", __name__, "--niceness", str(self.niceness)]
        if self.n_workers:
            command += ["--workers", str(self.n_workers)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._watch = psutil.Process(self._process.pid)
        threading.Thread(target=self._read_address, name="gridapp-worker-pool", daemon=True).start()
        return self

    def _read_address(self) -> None:
        line = self._process.stdout.readline().strip()
        if line.startswith("tcp://"):
            self._address = line
        else:  # the jobs then start clusters of their own, as without a pool
            logger.error("the worker pool did not start (its log is above); each job starts its own Dask cluster")
        self._started.set()

    @property
    def address(self) -> str | None:
        """The scheduler's address while the pool is up; ``None`` while it starts, and once it failed or ended.

        Also right in a job forked from the server, which cannot wait on its parent's child (``Popen.poll``
        there would call a live pool ended): the process is looked up by pid and start time.
        """
        if self._address is None or self._watch is None:
            return None
        try:
            alive = self._watch.is_running() and self._watch.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        return self._address if alive else None

    @property
    def state(self) -> str:
        """``"starting"``, ``"ready"``, or ``"down"`` (failed to start, ended, or closed)."""
        if self.address:
            return "ready"
        return "starting" if self._process is not None and not self._started.is_set() else "down"

    def wait(self, timeout: float | None = None) -> str | None:
        """Wait until the pool is up (or has failed) and return its address (``None`` when it failed)."""
        self._started.wait(timeout)
        return self.address

    def close(self) -> None:
        """Shut the pool down (the server is stopping)."""
        if self._process is None:
            return
        self._process.stdin.close()
        try:
            self._process.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def serve(n_workers: int | None, niceness: int) -> None:
    """Start a warm local cluster, print its scheduler's address, and keep it until standard input closes."""
    from distributed import Client

    from gridapp.core.parallel import close_cluster, local_cluster, prepare

    cluster = local_cluster(n_workers)
    try:
        with Client(cluster) as client:
            prepare(client).run(warm_worker, niceness)
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the server closes the pipe, or ends
    finally:
        close_cluster(cluster)


def main(argv: list[str] | None = None) -> None:
    """``python -m gridapp.jobs.pool [--workers N] [--niceness K]``: the pool process the server starts."""
    parser = argparse.ArgumentParser(prog="python -m gridapp.jobs.pool", description=serve.__doc__)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the CPU cores)")
    parser.add_argument("--niceness", type=int, default=0, help="CPU priority of the workers")
    args = parser.parse_args(argv)
    serve(args.workers, args.niceness)


if __name__ == "__main__":
    main()
