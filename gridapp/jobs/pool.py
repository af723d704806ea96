"""The server's Dask worker pool: started once with the dashboard, warmed, and shared by its jobs.

Without it every job starts a local cluster of its own: worker processes that import the computing
layers and load the GRN engine's kernels before the first tree (10–40 s on 2 busy cores, most of a
small job). The pool starts in a background thread, so the server answers at once; a job forked
before the pool is ready starts its own cluster, as before. Its workers run at the jobs' lower CPU
priority, with the engine's kernels loaded.
"""

from __future__ import annotations

import logging
import os
import threading

from distributed import Client, LocalCluster

from gridapp.core.methods.boosting import warm_up
from gridapp.core.parallel import close_cluster, local_cluster, prepare

logger = logging.getLogger(__name__)


def warm_worker(niceness: int) -> None:
    """Lower this worker's CPU priority to ``niceness`` and load the GRN engine's kernels."""
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), niceness))
    warm_up()


class WorkerPool:
    """A local Dask cluster kept for the life of the server.

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
        self.address: str | None = None
        self._cluster: LocalCluster | None = None
        self._started = threading.Event()

    def start(self) -> WorkerPool:
        """Start the cluster in a background thread; :attr:`address` is set once its workers are warm."""
        threading.Thread(target=self._start, name="gridapp-worker-pool", daemon=True).start()
        return self

    def _start(self) -> None:
        try:
            self._cluster = local_cluster(self.n_workers)
            with Client(self._cluster) as client:
                prepare(client).run(warm_worker, self.niceness)
            self.address = self._cluster.scheduler_address
        except Exception:  # the jobs then start clusters of their own, as without a pool
            logger.exception("the worker pool did not start; each job starts its own Dask cluster")
        finally:
            self._started.set()

    def wait(self, timeout: float | None = None) -> str | None:
        """Wait until the pool is up (or has failed) and return its address (``None`` when it failed)."""
        self._started.wait(timeout)
        return self.address

    def close(self) -> None:
        """Shut the cluster down (the server is stopping)."""
        self.address = None
        if self._cluster is not None:
            close_cluster(self._cluster)
            self._cluster = None
