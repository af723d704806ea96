"""Where the dashboard's background jobs run: forked processes on this machine, or Celery workers.

One user on one machine: Dash's ``DiskcacheManager`` forks a process per job (the default). A lab
server for many users: ``CeleryManager`` puts each job on a Redis queue that any number of
``celery -A app:celery_app worker`` processes (on any machine that sees the same cache folder)
take from; progress and results travel back through Redis. Either way the result itself goes to
the content-addressed :class:`~gridapp.jobs.cache.ResultCache`, so identical requests compute once.
"""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import diskcache
from dash import CeleryManager, DiskcacheManager
from dash.background_callback.managers import BaseBackgroundCallbackManager

#: Seconds a finished job's return value stays in the job store for the page that launched it to fetch.
RESULT_EXPIRES_S = 24 * 3600


def job_manager(cache_dir: str | Path, redis_url: str | None = None) -> BaseBackgroundCallbackManager:
    """The background-callback manager for the dashboard's jobs.

    Parameters
    ----------
    cache_dir
        The dashboard's cache folder; the local manager keeps its job records in ``jobs/`` there.
    redis_url
        ``redis://host:port/db`` of the Redis that Celery workers listen to; ``None`` runs jobs in
        forked processes of the server.
    """
    if redis_url is None:
        return DiskcacheManager(
            diskcache.Cache(str(Path(cache_dir) / "jobs")), cache_by=[launch_id], expire=RESULT_EXPIRES_S
        )
    return CeleryManager(celery_app(redis_url), cache_by=[launch_id], expire=RESULT_EXPIRES_S)


def launch_id() -> str:
    """A fresh random part of each job's Dash key.

    Dash names a job's progress and return value in the job store by a hash of the callback and its
    inputs, so two users launching the same run would read (and delete) each other's progress and
    result. With this in the hash every launch has its own unguessable name; identical runs are
    still computed once, by the result cache.
    """
    return uuid.uuid4().hex


def celery_app(redis_url: str):
    """A Celery application over ``redis_url`` (broker and result store), set for long GRN jobs.

    One job per worker process at a time (no prefetching: a long job must not hold back the queue),
    ``STARTED`` reported (so the page tells a queued job from a running one), a job whose worker
    process dies is failed rather than retried on another worker. Its pool processes may start
    processes of their own (:func:`_let_jobs_start_processes`).
    """
    from celery import Celery
    from celery.signals import worker_process_init

    worker_process_init.connect(_let_jobs_start_processes, weak=False)

    app = Celery("gridapp", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_track_started=True,
        worker_prefetch_multiplier=1,
        task_acks_late=False,
        result_expires=RESULT_EXPIRES_S,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


def _let_jobs_start_processes(**_) -> None:
    """Let a Celery pool process start processes (run in each when it starts).

    A job's local Dask cluster starts its workers as processes, but Celery's pool processes are
    daemonic, which Python's ``multiprocessing`` refuses to let start children, and carry their
    authentication key as billiard's type, which the standard library's spawn refuses to pickle.
    The daemon mark is cleared and the key (same bytes) given the standard type. The job's Dask
    workers still end with it: they watch their parent and exit when it does.
    """
    process = multiprocessing.current_process()
    process._config["daemon"] = False
    process._config["authkey"] = multiprocessing.process.AuthenticationString(bytes(process._config["authkey"]))


def celery_of(manager: BaseBackgroundCallbackManager):
    """The Celery application behind ``manager`` (what ``celery -A`` needs), or ``None`` for local jobs."""
    return manager.handle if isinstance(manager, CeleryManager) else None
