"""Start the gridapp dashboard: ``python app.py [--host H] [--port P] [--data-root DIR ...] [--cache-dir DIR]``.

``gunicorn app:server`` serves the same app (configured by GRIDAPP_DATA_ROOTS, GRIDAPP_CACHE_DIR,
GRIDAPP_BEELINE, GRIDAPP_REDIS_URL, ...). With ``--redis-url`` (or GRIDAPP_REDIS_URL) jobs go to
Celery workers started as ``celery -A app:celery_app worker`` with the same settings.
"""

from __future__ import annotations

import argparse
import os

from gridapp.jobs.params import DATA_DIR, DEFAULT_CACHE_DIR, DEFAULT_ROOT


def _limit(variable: str, kind: type = int) -> float | None:
    value = os.environ.get(variable)
    return kind(value) if value else None


def _settings(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gridapp dashboard")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8050)))
    parser.add_argument(
        "--data-root",
        action="append",
        dest="data_roots",
        help="folder whose files may be opened (repeatable; default: the embedded data)",
    )
    parser.add_argument("--cache-dir", default=os.environ.get("GRIDAPP_CACHE_DIR", DEFAULT_CACHE_DIR))
    parser.add_argument("--dask-scheduler", default=os.environ.get("GRIDAPP_DASK_SCHEDULER") or None)
    parser.add_argument(
        "--beeline-root", default=DEFAULT_ROOT, help="BEELINE benchmark folder (default: GRIDAPP_BEELINE or ../shared)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GRIDAPP_REDIS_URL") or None,
        help="Redis of the Celery job queue (default: jobs run in forked processes of this server)",
    )
    parser.add_argument("--max-upload-mb", type=int, default=int(os.environ.get("GRIDAPP_MAX_UPLOAD_MB", 500)))
    parser.add_argument(
        "--max-file-mb",
        type=int,
        default=_limit("GRIDAPP_MAX_FILE_MB"),
        help="largest file under the data roots a request may have read (default: no limit)",
    )
    parser.add_argument(
        "--max-dataset-mb",
        type=int,
        default=_limit("GRIDAPP_MAX_DATASET_MB"),
        help="largest dataset once decompressed, checked before loading (default: 10 x --max-upload-mb)",
    )
    parser.add_argument(
        "--max-job-minutes",
        type=float,
        default=_limit("GRIDAPP_MAX_JOB_MINUTES", float),
        help="stop a job still computing after this long (default: no limit)",
    )
    parser.add_argument(
        "--auth-header",
        default=os.environ.get("GRIDAPP_AUTH_HEADER") or None,
        help="trust this request header (set by an authenticating proxy) as the user name; login required",
    )
    parser.add_argument(
        "--basic-auth",
        default=os.environ.get("GRIDAPP_BASIC_AUTH") or None,
        help="file of user:password-hash lines (werkzeug hashes); HTTP basic login required",
    )
    parser.add_argument(
        "--max-cells", type=int, default=_limit("GRIDAPP_MAX_CELLS"), help="largest job, in cells (default: no limit)"
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=_limit("GRIDAPP_MAX_JOBS") or max(1, (os.cpu_count() or 2) // 2),
        help="jobs computing at once on this machine, the others queued (default: one per 2 cores)",
    )
    parser.add_argument(
        "--max-genes", type=int, default=_limit("GRIDAPP_MAX_GENES"), help="largest job, in genes (default: no limit)"
    )
    parser.add_argument(
        "--no-demo-result",
        dest="demo_result",
        action="store_false",
        default=os.environ.get("GRIDAPP_DEMO_RESULT", "1") != "0",
        help="on an empty cache, do not compute the embedded demo's result in the background for the first page",
    )
    args, _ = parser.parse_known_args(argv)
    env_roots = [r for r in os.environ.get("GRIDAPP_DATA_ROOTS", "").split(os.pathsep) if r]
    args.data_roots = args.data_roots or env_roots or [str(DATA_DIR)]
    return args


SETTINGS = _settings([]) if __name__ != "__main__" else _settings()

# The server's layers (Dash, pandas, Dask, pySCENIC: seconds) are imported once the settings are read, so
# that --help and a bad option answer at once.
from gridapp.app.access import Access  # noqa: E402
from gridapp.app.queue import celery_of, job_manager  # noqa: E402
from gridapp.app.server import create_app  # noqa: E402
from gridapp.jobs.pipeline import JobLimits  # noqa: E402

JOBS = job_manager(SETTINGS.cache_dir, SETTINGS.redis_url)
app = create_app(
    data_roots=SETTINGS.data_roots,
    cache_dir=SETTINGS.cache_dir,
    max_upload_mb=SETTINGS.max_upload_mb,
    max_file_mb=SETTINGS.max_file_mb,
    max_dataset_mb=SETTINGS.max_dataset_mb,
    limits=JobLimits(SETTINGS.max_cells, SETTINGS.max_genes),
    max_jobs=SETTINGS.max_jobs,
    max_job_minutes=SETTINGS.max_job_minutes,
    access=Access.from_settings(SETTINGS.auth_header, SETTINGS.basic_auth),
    dask_scheduler=SETTINGS.dask_scheduler,
    beeline_root=SETTINGS.beeline_root,
    jobs=JOBS,
    demo_result=SETTINGS.demo_result,
    warm=__name__ == "__main__",  # a long-lived server forking its jobs; not gunicorn's or Celery's processes
)
server = app.server
celery_app = celery_of(JOBS)

if __name__ == "__main__":
    app.run(host=SETTINGS.host, port=SETTINGS.port, debug=False)
