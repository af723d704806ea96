"""Launch a pipeline run into the result cache (used by the dashboard's background jobs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gridapp.core.parallel import dask_client
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import Progress, run


def launch(
    params: RunParams,
    cache: ResultCache,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    dask_scheduler: str | None = None,
    n_workers: int | None = None,
) -> str:
    """Return the cache key of ``params``' result, computing it (once, even when launched twice) if absent."""

    def compute(chosen: RunParams):
        with dask_client(dask_scheduler, n_workers=n_workers) as client:
            return run(
                chosen, client=client, cache_dir=Path(cache.root) / ".motif-dbs", progress=progress, cancelled=cancelled
            )

    return cache.get_or_compute(params, compute)
