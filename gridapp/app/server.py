"""Build the Dash application: layout, background-job manager, callbacks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dash import Dash, dcc, html
from dash.background_callback.managers import BaseBackgroundCallbackManager

from gridapp.app import callbacks, compare
from gridapp.app.forkgate import GATE
from gridapp.app.layout import benchmark_page, compare_views, controls, views
from gridapp.app.queue import celery_of, job_manager
from gridapp.core.beeline import dataset_ids
from gridapp.jobs.bench import DEFAULT_ROOT
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.datasets import list_files
from gridapp.jobs.imports import is_pyscenic_output
from gridapp.jobs.params import DATA_DIR
from gridapp.jobs.pipeline import NO_LIMITS, JobLimits

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gridapp"
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


def _beeline_sets(root: Path | None) -> tuple[list[str], str]:
    """The BEELINE sets with expression under ``root``, or a note saying why there are none."""
    if root is None or not (root / "networks").is_dir():
        return [], f"No BEELINE data at {root}: start the dashboard with --beeline-root pointing at it."
    return dataset_ids(root), ""


def _health(config: callbacks.AppConfig, jobs: BaseBackgroundCallbackManager) -> tuple[dict, int]:
    """``/healthz``: 200 when the result cache is writable and the job queue (if any) answers, else 503."""
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
    return body, 503 if problems else 200


def create_app(
    *,
    data_roots: Sequence[str | Path] = (DATA_DIR,),
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    max_upload_mb: int = 500,
    limits: JobLimits = NO_LIMITS,
    max_jobs: int | None = None,
    dask_scheduler: str | None = None,
    beeline_root: str | Path | None = DEFAULT_ROOT,
    jobs: BaseBackgroundCallbackManager | None = None,
) -> Dash:
    """The gridapp dashboard; ``create_app().server`` is the WSGI entry point.

    Parameters
    ----------
    data_roots
        Folders whose files may be opened; nothing outside them is read or served.
    cache_dir
        Results (content-addressed), uploads and the background-job store.
    max_upload_mb
        Largest accepted upload.
    limits
        Largest job (cells after subsetting, genes after selection); unlimited by default.
    max_jobs
        Jobs computing at once on this machine (others wait, shown as queued); no limit when ``None``.
    dask_scheduler
        Address of a Dask scheduler for GRN inference; a local cluster per job when ``None``.
    beeline_root
        The BEELINE benchmark folder the Benchmark page scores methods on (read, never served).
    jobs
        Where background jobs run (:func:`gridapp.app.queue.job_manager`); forked processes of this
        server, recorded under ``cache_dir/jobs``, when ``None``.
    """
    cache_dir = Path(cache_dir)
    jobs = jobs or job_manager(cache_dir)
    config = callbacks.AppConfig(
        data_roots=tuple(Path(root).resolve() for root in data_roots),
        cache=ResultCache(cache_dir / "results"),
        upload_dir=cache_dir / "uploads",
        max_upload_mb=max_upload_mb,
        limits=limits,
        max_jobs=max_jobs,
        dask_scheduler=dask_scheduler,
        beeline_root=Path(beeline_root) if beeline_root else None,
        bench_dir=cache_dir / "benchmarks",
        compare_dir=cache_dir / "compares",
    )
    app = Dash(
        __name__,
        title="gridapp",
        assets_folder=str(ASSETS),
        background_callback_manager=jobs,
        suppress_callback_exceptions=False,
    )
    roots = (*config.data_roots, config.upload_dir)

    def layout() -> html.Div:
        texts = list_files(roots, (".txt", ".tsv", ".tsv.gz", ".csv", ".csv.gz", ".gmt", ".gmt.txt.gz"))
        priors = _options([p for p in texts if any(w in p.name.lower() for w in PRIOR_WORDS)])
        explore = html.Div(
            [
                controls(
                    datasets=_options(
                        sorted(
                            (p for p in list_files(roots) if not any(w in p.name.lower() for w in NOT_DATASETS)),
                            key=lambda p: (p.suffix != ".h5ad", p.name),
                        )
                    ),
                    tf_lists=_options([p for p in texts if "tf" in p.name.lower() and p.suffix == ".txt"]),
                    priors=priors,
                    motif_files=_options(list_files(roots, MOTIF_SUFFIXES)),
                    runs=callbacks.run_options(config.cache),
                    outputs=_options(sorted({p.parent for p in texts if is_pyscenic_output(p.parent)})),
                ),
                views(priors),
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

    app.layout = layout
    callbacks.register(app, config)
    compare.register(app, config)
    app.server.wsgi_app = GATE.install().middleware(app.server.wsgi_app)  # background jobs fork between requests
    app.server.add_url_rule("/healthz", "healthz", lambda: _health(config, jobs))
    return app
