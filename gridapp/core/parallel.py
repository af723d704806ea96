"""Dask client set-up: a local cluster sized for this machine, or an existing scheduler."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import yaml
from distributed import Client, LocalCluster, WorkerPlugin

from gridapp.core import compat
from gridapp.core.errors import GridappError

#: seconds a local cluster gets to shut down
CLOSE_TIMEOUT = 60
#: seconds to reach a scheduler given by address before saying it cannot be reached
CONNECT_TIMEOUT = 10
#: Dask settings for gridapp's workers (glibc malloc settings that keep freed memory for reuse); the
#: user's own Dask configuration takes precedence
DASK_CONFIG = Path(__file__).with_name("dask.yaml")
dask.config.update_defaults(yaml.safe_load(DASK_CONFIG.read_text()))


class CompatPlugin(WorkerPlugin):
    """Apply :mod:`gridapp.core.compat` in every worker before it unpickles pySCENIC tasks."""

    name = "gridapp-compat"

    def setup(self, worker: object) -> None:
        compat.apply()


def prepare(client: Client) -> Client:
    """Make ``client``'s workers (present and future) able to run pySCENIC code."""
    client.register_plugin(CompatPlugin(), name=CompatPlugin.name)
    return client


@contextmanager
def dask_client(address: str | None = None, *, n_workers: int | None = None) -> Iterator[Client]:
    """Open a Dask client for the parallel steps and close it afterwards.

    Parameters
    ----------
    address
        Scheduler address (``tcp://host:8786``) of an existing cluster; ``None`` starts a local
        cluster of single-threaded worker processes with :data:`DASK_CONFIG`'s settings.
    n_workers
        Local workers; defaults to the number of CPU cores.
    """
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except OSError as err:
            raise GridappError(
                f"Cannot reach the Dask scheduler at {address} ({err}).",
                "Check the address, or leave --dask-scheduler out to run locally.",
            ) from err
        with client:
            yield prepare(client)
        return
    cluster = local_cluster(n_workers)
    try:
        with Client(cluster) as client:
            yield prepare(client)
    finally:
        close_cluster(cluster)


def local_cluster(n_workers: int | None = None) -> LocalCluster:
    """A local cluster of ``n_workers`` (default: the CPU cores) single-threaded worker processes, no dashboard."""
    return LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # without a dashboard the scheduler still serves its health routes: on a free port, not on 8787, which
        # another cluster on the machine may hold (distributed then warns on the server's console)
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=40,
    )


def close_cluster(cluster: LocalCluster, timeout: float = CLOSE_TIMEOUT) -> None:
    """Shut a local cluster down: its workers first, each given ``timeout`` seconds to end, then the scheduler.

    ``LocalCluster.close`` alone gives a worker process 3.2 s to end before it is killed, and 0.8 s more to be
    gone (distributed's ``Nanny.close`` default of 5 s); a busy machine misses that, and tornado prints the
    ``TimeoutError`` traceback of that background task after a successful run. Missing ``timeout`` itself
    gives a warning, not a failure (the worker processes end with this process anyway): finished work must
    not fail on its way out.
    """
    try:
        try:
            cluster.sync(_close_workers, cluster, timeout)
        finally:
            cluster.close(timeout=timeout)
    except TimeoutError:
        warnings.warn(f"The local Dask cluster did not shut down within {timeout:.0f} s.", RuntimeWarning, stacklevel=2)


async def _close_workers(cluster: LocalCluster, timeout: float) -> None:
    """Close every worker of ``cluster``: its nanny asks the process to end, kills it after 64 % of ``timeout``
    and waits for it until 80 %."""
    await asyncio.gather(*(worker.close(timeout=timeout) for worker in list(cluster.workers.values())))


@contextmanager
def client_or_local(client: Client | None) -> Iterator[Client]:
    """Use ``client`` when given, else a local cluster for the duration of the block."""
    if client is not None:
        yield prepare(client)
        return
    with dask_client() as local:
        yield local
