"""The job door: the one way a server's jobs (Explore runs, comparisons, benchmarks) start.

Every job kind passes the same :class:`JobDoor`: a lower CPU priority, one of a fixed number of slots
(others wait, cancellable), the server's cell / gene limits, a time limit, and a Dask client. Nothing a
job reads is hashed or loaded before it is through the door, which runs in the job's own process. While a
job waits (for a slot, for its workers to start) a :class:`Ticker` re-tells what it waits for every second.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from distributed import Client

from gridapp.core.errors import Cancelled, GridappError
from gridapp.core.parallel import dask_client
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import NO_LIMITS, STEPS, JobLimits, Progress, run
from gridapp.jobs.pool import WorkerPool

#: CPU priority the dashboard gives its jobs (0 = the server's own, 19 = lowest)
JOB_NICENESS = 10
#: how often a waiting job re-tells what it waits for
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Job:
    """A job through the door: its Dask client, its limits and its stop check.

    Attributes
    ----------
    client
        The Dask client the job computes with.
    limits
        The largest subset the job may work on.
    cancelled
        Polled between steps: ``True`` once the user cancelled.
    """

    client: Client
    limits: JobLimits
    cancelled: Callable[[], bool]


@dataclass(frozen=True)
class JobDoor:
    """How a server runs its jobs (a CLI run passes the default door: no limits).

    Attributes
    ----------
    slots
        Folder of the slot lock files shared by every process of the server (and its workers).
    max_jobs
        Jobs computing at once; ``None``: no limit.
    niceness
        CPU priority of the job's process and its local Dask workers (:data:`JOB_NICENESS` on a server).
    limits
        The largest subset a job may work on.
    max_seconds
        A job still computing after this long is stopped (nothing stored); ``None``: no limit.
    dask_scheduler, n_workers
        An existing Dask cluster, or the size of the local one started for each job.
    pool
        The server's worker pool (:class:`~gridapp.jobs.pool.WorkerPool`): jobs use it once it is up
        (unless ``dask_scheduler`` names a cluster), each starting its own local cluster until then.
    """

    slots: Path | None = None
    max_jobs: int | None = None
    niceness: int = 0
    limits: JobLimits = NO_LIMITS
    max_seconds: float | None = None
    dask_scheduler: str | None = None
    n_workers: int | None = None
    pool: WorkerPool | None = None

    @contextmanager
    def enter(
        self, *, tell: Callable[[str], object] = lambda note: None, cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[Job]:
        """Go through the door: lower the priority, start the time limit, wait for a slot, start the Dask client.

        Parameters
        ----------
        tell
            Told what the job waits for, at once and then every :data:`TICK_SECONDS` with the seconds waited
            (``waiting for one of 2 job slots (5 s)``, ``starting workers (12 s)``); never once the job
            is through the door.
        cancelled
            The user's cancel, polled while waiting and by the job.
        """
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), self.niceness))
        with ExitStack() as stack:
            stack.enter_context(self._time_limit())
            with ticking(tell) as ticker:
                if self.max_jobs is not None and self.slots is not None:
                    queued = f"waiting for one of {self.max_jobs} job slots"
                    stack.enter_context(job_slot(self.slots, self.max_jobs, lambda: ticker.say(queued), cancelled))
                ticker.say("starting workers")
                address = self.dask_scheduler or (self.pool.address if self.pool else None)
                client = stack.enter_context(dask_client(address, n_workers=self.n_workers))
            yield Job(client, self.limits, cancelled)

    @contextmanager
    def _time_limit(self) -> Iterator[None]:
        """Stop the block with :class:`GridappError` after :attr:`max_seconds` (a ``SIGALRM`` timer, which
        interrupts the job's own code between any two Python steps; only in a process's main thread, where
        jobs run, and not at all elsewhere)."""
        if self.max_seconds is None or threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(_signum: int, _frame: object) -> None:
            raise GridappError(
                f"The job ran past this server's {self.max_seconds / 60:.3g}-minute limit and was stopped; "
                "nothing was stored and earlier results are unchanged.",
                "Choose fewer cells or genes, or run it with the CLI (python -m gridapp) on your own machine.",
            )

        previous = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, self.max_seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


#: the door of a CLI run or a single user's dashboard: no slots, no limits
OPEN_DOOR = JobDoor()


def launch(
    params: RunParams,
    cache: ResultCache,
    door: JobDoor = OPEN_DOOR,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """Return the cache key of ``params``' result, computing it through ``door`` (once, even when launched
    twice) if absent.

    Parameters
    ----------
    params
        What to compute.
    cache
        Where results are stored (and looked up first).
    door
        The server's job door (slots, priority, limits, time limit, Dask).
    progress, cancelled
        Step progress and cancellation, as in :func:`gridapp.jobs.pipeline.run`.
    """

    def tell(note: str) -> None:
        if progress is not None:
            progress(0, len(STEPS), note)

    def compute(chosen: RunParams):
        door.limits.check_subset(chosen)
        with door.enter(tell=tell, cancelled=cancelled) as job:
            return run(
                chosen,
                client=job.client,
                cache_dir=Path(cache.root) / ".motif-dbs",
                progress=progress,
                cancelled=job.cancelled,
                limits=job.limits,
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


class Ticker:
    """Tells what a job is doing now, then again every ``every`` seconds with the seconds it has taken, until
    :meth:`stop`: a wait is never a frozen status line.

    Parameters
    ----------
    tell
        Told ``note`` when :meth:`say` is called, then ``note (N s)``; called from the ticker's own thread
        between the two, never after :meth:`stop` has returned.
    every
        Seconds between two reports.
    """

    def __init__(self, tell: Callable[[str], object], every: float = TICK_SECONDS) -> None:
        self._tell = tell
        self._every = every
        self._note: str | None = None
        self._since = time.monotonic()
        self._lock = threading.Lock()  # a report of the previous note never follows a new one
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="job-ticker", daemon=True)
        self._thread.start()

    def say(self, note: str) -> None:
        """Tell ``note`` now and re-tell it, with the seconds since now, until the next note or :meth:`stop`."""
        with self._lock:
            self._note, self._since = note, time.monotonic()
            self._tell(note)

    def stop(self) -> None:
        """Stop reporting; once this returns, nothing more is told."""
        self._stopped.set()
        self._thread.join()

    def _tick(self) -> None:
        while not self._stopped.wait(self._every - self._seconds() % self._every):  # whole periods of the note
            with self._lock:
                if self._note is not None and self._seconds() >= self._every and not self._stopped.is_set():
                    self._tell(f"{self._note} ({self._seconds():.0f} s)")

    def _seconds(self) -> float:
        """Seconds since the current note was said."""
        return time.monotonic() - self._since


def status_line(note: str) -> str:
    """A told note as a page's status line: ``starting workers (3 s)`` → ``Starting workers (3 s) …``."""
    return f"{note[:1].upper()}{note[1:]} …"


@contextmanager
def ticking(tell: Callable[[str], object], every: float = TICK_SECONDS) -> Iterator[Ticker]:
    """A :class:`Ticker` over ``tell`` for the block (silent until its first :meth:`~Ticker.say`), stopped
    when the block ends, however it ends."""
    ticker = Ticker(tell, every)
    try:
        yield ticker
    finally:
        ticker.stop()
