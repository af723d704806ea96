"""Build the Dash application: layout, background-job manager, callbacks."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import flask
from dash import Dash, DiskcacheManager, dcc, html
from dash.background_callback.managers import BaseBackgroundCallbackManager
from werkzeug.exceptions import HTTPException

from gridapp.app import benchmark, compare, explore, form, network_panel, runs
from gridapp.app.access import COOKIE_AGE, SPACE_COOKIE, Access, new_space_cookie
from gridapp.app.config import AppConfig, roots_of
from gridapp.app.forkgate import GATE
from gridapp.app.form import CELLTYPE_HINTS, params_from_form, suggest
from gridapp.app.layout import controls
from gridapp.app.pages import benchmark_page, compare_views, views
from gridapp.app.queue import celery_of, job_manager
from gridapp.app.words import report_error, run_options
from gridapp.core.beeline import dataset_ids
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.datasets import category_columns, list_files, obs_table
from gridapp.jobs.demo import start_demo
from gridapp.jobs.imports import is_pyscenic_output
from gridapp.jobs.params import DATA_DIR, DEFAULT_CACHE_DIR, DEFAULT_ROOT, DEMO_DIR, RunParams
from gridapp.jobs.pipeline import NO_LIMITS, JobLimits, warm_up
from gridapp.jobs.pool import WorkerPool
from gridapp.jobs.runner import JOB_NICENESS, JobDoor

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
#: bytes a request may carry beyond an upload's base64 text (the rest of a Dash callback body)
REQUEST_OVERHEAD = 2**20
PRIOR_WORDS = ("dorothea", "collectri", "trrust", "prior", "tf_gene_link")
NOT_DATASETS = (*PRIOR_WORDS, "motif", "tfs", "annotation", "network", "label", "split")
MOTIF_SUFFIXES = (
    ".feather",
    ".db",
    ".tbl",
    "motifAnnotations_hgnc.tsv.gz",
    "motifAnnotations_mgi.tsv.gz",
    "motifAnnotations_hgnc_v9.tsv.gz",
    "motifAnnotations_mgi_v9.tsv.gz",
)


def _options(paths: Sequence[Path]) -> list[dict]:
    return [{"label": path.name, "value": str(path)} for path in paths]


def form_choices(roots: Sequence[Path]) -> dict[str, list[dict]]:
    """The files the control column offers under ``roots``: datasets (h5ad first), TF lists, priors, motif
    files and pySCENIC output folders, each as dropdown options."""
    texts = list_files(roots, (".txt", ".tsv", ".tsv.gz", ".csv", ".csv.gz", ".gmt", ".gmt.txt.gz"))
    datasets = (p for p in list_files(roots) if not any(w in p.name.lower() for w in NOT_DATASETS))
    return {
        "datasets": _options(sorted(datasets, key=lambda p: (p.suffix != ".h5ad", p.name))),
        "tf_lists": _options([p for p in texts if "tf" in p.name.lower() and p.suffix == ".txt"]),
        "priors": _options([p for p in texts if any(w in p.name.lower() for w in PRIOR_WORDS)]),
        "motif_files": _options(list_files(roots, MOTIF_SUFFIXES)),
        "outputs": _options(sorted({p.parent for p in texts if is_pyscenic_output(p.parent)})),
    }


def first_run(config: AppConfig) -> RunParams | None:
    """What the Launch button starts on a fresh page when the first dataset offered is the embedded demo
    (the form's defaults); ``None`` for a server whose data roots offer something else first."""
    choices = form_choices(config.data_roots)
    first = choices["datasets"][0]["value"] if choices["datasets"] else None
    if first is None or not Path(first).is_relative_to(DEMO_DIR.resolve()) or not choices["tf_lists"]:
        return None
    columns = list(category_columns(obs_table(Path(first))))
    form = {
        "input": first,
        "tfs": choices["tf_lists"][0]["value"],
        "cell-type-key": suggest(columns, CELLTYPE_HINTS),
        "prune": "prior" if choices["priors"] else "none",
        "prior": choices["priors"][0]["value"] if choices["priors"] else None,
    }
    return params_from_form(config, form)


def _beeline_sets(root: Path | None) -> tuple[list[str], str]:
    """The BEELINE sets with expression under ``root``, or a note saying why there are none."""
    if root is None or not (root / "networks").is_dir():
        return [], f"No BEELINE data at {root}: start the dashboard with --beeline-root pointing at it."
    return dataset_ids(root), ""


def _health(config: AppConfig, jobs: BaseBackgroundCallbackManager) -> tuple[dict, int]:
    """``/healthz``: 200 when the result cache is writable and the job queue (if any) answers, else 503; with a
    worker pool, whether it is ready yet."""
    problems = []
    if not os.access(config.cache.root, os.W_OK):
        problems.append(f"result cache {config.cache.root} is not writable")
    queue = celery_of(jobs)
    if queue is not None:
        try:
            queue.backend.client.ping()
        except Exception as err:  # any failure to reach Redis is the answer
            problems.append(f"job queue unreachable: {err}")
    body = {"status": "fail" if problems else "ok", "jobs": "celery" if queue else "local", "problems": problems}
    if config.door.pool is not None:  # not part of the health: jobs start clusters of their own meanwhile
        body["worker_pool"] = config.door.pool.state
    return body, 503 if problems else 200


def create_app(
    *,
    data_roots: Sequence[str | Path] = (DATA_DIR,),
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    max_upload_mb: int = 500,
    max_file_mb: int | None = None,
    max_dataset_mb: int | None = None,
    limits: JobLimits = NO_LIMITS,
    max_jobs: int | None = None,
    max_job_minutes: float | None = None,
    dask_scheduler: str | None = None,
    beeline_root: str | Path | None = DEFAULT_ROOT,
    jobs: BaseBackgroundCallbackManager | None = None,
    access: Access | None = None,
    demo_result: bool = False,
    warm: bool = False,
) -> Dash:
    """The gridapp dashboard; ``create_app().server`` is the WSGI entry point.

    Parameters
    ----------
    data_roots
        Folders whose files may be opened; nothing outside them is read or served.
    cache_dir
        Results (content-addressed), uploads and the background-job store.
    max_upload_mb
        Largest accepted upload; a larger request body is refused before it is read.
    max_file_mb
        Largest file under the data roots a request may have read (no cap when ``None``).
    max_dataset_mb
        Largest dataset once decompressed, told from its metadata before it is loaded; ``None``: ten
        times ``max_upload_mb``.
    limits
        Largest job (cells after subsetting, genes after selection); unlimited by default.
    max_jobs
        Jobs computing at once on this machine (others wait, shown as queued); no limit when ``None``.
    max_job_minutes
        A job (Explore run, comparison, benchmark) still computing after this long is stopped.
    dask_scheduler
        Address of a Dask scheduler for GRN inference; when ``None``, the worker pool (``warm``) or a local
        cluster per job.
    beeline_root
        The BEELINE benchmark folder the Benchmark page scores methods on (read, never served).
    jobs
        Where background jobs run (:func:`gridapp.app.queue.job_manager`); forked processes of this
        server, recorded under ``cache_dir/jobs``, when ``None``.
    access
        Login and upload spaces (:class:`~gridapp.app.access.Access`); no login when ``None``.
    demo_result
        On an empty cache, compute the embedded demo's result once in the background (the form's defaults),
        so that the first page opens on it.
    warm
        Get the first job's seconds ready in the background: a Dask worker pool for the jobs forked by this
        server (:class:`~gridapp.jobs.pool.WorkerPool`; not with ``dask_scheduler`` or Celery workers), and the
        kernels of the steps a job runs itself compiled here (:func:`~gridapp.jobs.pipeline.warm_up`). For
        ``python app.py``: a server process that lives long and forks its jobs.
    """
    cache_dir = Path(cache_dir)
    jobs = jobs or job_manager(cache_dir)
    local_jobs = isinstance(jobs, DiskcacheManager)  # forked from this process (not Celery workers)
    if warm and local_jobs:
        threading.Thread(target=_warm_up, name="gridapp-warm-up", daemon=True).start()
    pool = WorkerPool(niceness=JOB_NICENESS).start() if warm and local_jobs and not dask_scheduler else None
    config = AppConfig(
        data_roots=tuple(Path(root).resolve() for root in data_roots),
        cache=ResultCache(cache_dir / "results"),
        upload_dir=(cache_dir / "uploads").resolve(),
        max_upload_mb=max_upload_mb,
        max_file_mb=max_file_mb,
        max_dataset_mb=max_dataset_mb or 10 * max_upload_mb,
        door=_door(cache_dir, max_jobs, limits, max_job_minutes, dask_scheduler, pool),
        access=access or Access(),
        beeline_root=Path(beeline_root) if beeline_root else None,
        bench_dir=cache_dir / "benchmarks",
        compare_dir=cache_dir / "compares",
    )
    demo = first_run(config) if demo_result and not config.cache.runs() else None
    if demo is not None:
        config = replace(config, first_key=config.cache.key(demo))
        start_demo(config.cache, demo, max_jobs)
    return _dashboard(config, jobs)


def _dashboard(config: AppConfig, jobs: BaseBackgroundCallbackManager) -> Dash:
    """The Dash app over ``config``: the page, every page's callbacks, the request hardening, the login and job
    gate around the WSGI app, and ``/healthz``."""
    app = Dash(
        __name__,
        title="gridapp",
        assets_folder=str(ASSETS),
        background_callback_manager=jobs,
        suppress_callback_exceptions=False,
        on_error=report_error,
    )
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)  # screen readers' language
    app.layout = lambda: page(config)
    form.register(app, config)
    runs.register(app, config)
    explore.register(app, config)
    network_panel.register(app)
    compare.register(app, config)
    benchmark.register(app, config)
    harden(app.server, config)
    app.server.wsgi_app = config.access.middleware(GATE.install().middleware(app.server.wsgi_app))
    app.server.add_url_rule("/healthz", "healthz", lambda: _health(config, jobs))
    return app


def page(config: AppConfig) -> html.Div:
    """The whole page as ``config``'s server shows it now: the control column, the Explore and Compare views
    (opening on the most recent result) and the Benchmark page."""
    choices = form_choices(roots_of(config))
    runs = run_options(config)  # newest first: the page opens on the most recent result
    explore = html.Div(
        [
            controls(**choices, runs=runs, max_upload_mb=config.max_upload_mb),
            views(choices["priors"], result_key=runs[0]["value"] if runs else None),
            compare_views(),
        ],
        id="explore-page",
        className="page",
    )
    sets, note = _beeline_sets(config.beeline_root)
    return html.Div(
        [
            html.Nav(
                [
                    html.Span("gridapp", className="brand"),
                    dcc.RadioItems(
                        id="page",
                        options=["Explore", "Compare", "Benchmark"],
                        value="Explore",
                        inline=True,
                        className="tabs",
                    ),
                ],
                className="nav",
            ),
            explore,
            html.Div(benchmark_page(sets, note), id="benchmark-page", className="page", hidden=True),
        ]
    )


def _door(
    cache_dir: Path,
    max_jobs: int | None,
    limits: JobLimits,
    max_job_minutes: float | None,
    dask_scheduler: str | None,
    pool: WorkerPool | None,
) -> JobDoor:
    """The door every job of this server goes through: slots under the cache, limits, time limit, Dask."""
    return JobDoor(
        slots=cache_dir / "results" / ".slots",
        max_jobs=max_jobs,
        niceness=JOB_NICENESS,
        limits=limits,
        max_seconds=max_job_minutes * 60 if max_job_minutes else None,
        dask_scheduler=dask_scheduler,
        pool=pool,
    )


def _warm_up() -> None:
    """:func:`~gridapp.jobs.pipeline.warm_up` with every fork waiting for its end: no job is forked half-way
    through a compilation (the child would inherit numba's compiler lock, held)."""
    with GATE.no_fork_during():
        try:
            warm_up()
        except Exception:  # a job then compiles what it needs itself
            logger.exception("warming up the pipeline's kernels failed")


def harden(server: flask.Flask, config: AppConfig) -> None:
    """What the Flask server does for every request: bodies over the upload limit refused before they are
    read (413), each browser given its upload-space cookie, and errors answered with a short message,
    never a traceback (a request the page's callbacks cannot take is a client's error, 400)."""
    server.config["MAX_CONTENT_LENGTH"] = config.max_upload_mb * 2**20 * 4 // 3 + REQUEST_OVERHEAD

    @server.after_request
    def give_space_cookie(response: flask.Response) -> flask.Response:
        if not flask.request.cookies.get(SPACE_COOKIE) and not config.access.login:
            response.set_cookie(SPACE_COOKIE, new_space_cookie(), max_age=COOKIE_AGE, httponly=True, samesite="Lax")
        return response

    @server.errorhandler(413)
    def too_large(_: HTTPException) -> tuple[str, int]:
        return f"Request refused: it is larger than this server's {config.max_upload_mb} MB upload limit.", 413

    @server.errorhandler(Exception)
    def refuse(err: Exception) -> tuple[str, int]:
        if isinstance(err, HTTPException):
            return f"Request refused: {err.description}", err.code or 500
        logger.error("request %s failed", flask.request.path, exc_info=err)
        if flask.request.path.endswith("/_dash-update-component"):
            return "Request refused: it does not match a callback of this page; reload the page.", 400
        return "The server could not answer this request.", 500
