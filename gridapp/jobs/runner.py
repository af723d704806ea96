"""Launch a pipeline run into the result cache (used by the dashboard's background jobs)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from gridapp.core.errors import Cancelled
from gridapp.core.parallel import dask_client
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import NO_LIMITS, STEPS, JobLimits, Progress, run

#: CPU priority the dashboard gives its jobs (0 = the server's own, 19 = lowest)
JOB_NICENESS = 10


def launch(
    params: RunParams,
    cache: ResultCache,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    dask_scheduler: str | None = None,
    n_workers: int | None = None,
    limits: JobLimits = NO_LIMITS,
    max_jobs: int | None = None,
    niceness: int = 0,
) -> str:
    """Return the cache key of ``params``' result, computing it (once, even when launched twice) if absent.

    Parameters
    ----------
    params
        What to compute.
    cache
        Where results are stored (and looked up first).
    progress, cancelled
        Step progress and cancellation, as in :func:`gridapp.jobs.pipeline.run`.
    dask_scheduler, n_workers
        An existing Dask cluster, or the size of the local one started for the job.
    limits
        The largest subset the job may work on.
    max_jobs
        Jobs computing at once among all that share ``cache`` on this machine; a job over the count
        waits (reported through ``progress``, cancellable) for a free slot. ``None``: no limit.
    niceness
        CPU priority of the computing process and its local Dask workers (a server passes
        :data:`JOB_NICENESS`, so that its own requests keep the CPU they need).
    """

    def tell(note: str) -> None:
        if progress is not None:
            progress(0, len(STEPS), note)

    def compute(chosen: RunParams):
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), niceness))
        with ExitStack() as stack:
            if max_jobs is not None:
                queued = f"queued: {max_jobs} job(s) at a time here"
                stack.enter_context(job_slot(Path(cache.root) / ".slots", max_jobs, lambda: tell(queued), cancelled))
            tell("starting workers")
            client = stack.enter_context(dask_client(dask_scheduler, n_workers=n_workers))
            return run(
                chosen,
                client=client,
                cache_dir=Path(cache.root) / ".motif-dbs",
                progress=progress,
                cancelled=cancelled,
                limits=limits,
            )

    return cache.get_or_compute(params, compute)


@contextmanager
def job_slot(
    folder: Path,
    slots: int,
    waiting: Callable[[], object] = lambda: None,
    cancelled: Callable[[], bool] = lambda: False,
    poll_seconds: float = 1.0,
) -> Iterator[int]:
    """Hold one of ``slots`` job slots (an exclusive lock on ``folder/slot-<i>.lock``) while the block runs.

    Parameters
    ----------
    folder
        Where the slot files live; every process using the same folder shares the slots. The kernel
        frees the slot of a process that dies.
    slots
        How many holders at once.
    waiting
        Called once when every slot is taken.
    cancelled
        Polled while waiting; when it returns True, :class:`Cancelled` is raised.
    poll_seconds
        How often a waiting caller tries again.

    Yields
    ------
    The slot's number.
    """
    folder.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        for slot in range(slots):
            with open(folder / f"slot-{slot}.lock", "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield slot
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        if cancelled():
            raise Cancelled("cancelled while waiting for a job slot")
        if not told:
            waiting()
            told = True
        time.sleep(poll_seconds)
