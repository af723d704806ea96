"""The dashboard's settings (:class:`AppConfig`) and who is calling: their upload space and the folders they
may read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import flask
from dash import ctx
from dash.exceptions import MissingCallbackContextException

from gridapp.app.access import Access
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.gate import FileGate
from gridapp.jobs.pipeline import JobLimits
from gridapp.jobs.runner import OPEN_DOOR, JobDoor


@dataclass(frozen=True)
class AppConfig:
    """Where the dashboard reads data and keeps results, and how it runs jobs.

    Attributes
    ----------
    data_roots
        Folders whose files may be read (resolved).
    cache
        The result store.
    upload_dir
        Holds one upload space per caller (see :mod:`gridapp.app.access`).
    max_upload_mb
        Largest upload.
    max_file_mb
        Largest file under the data roots a request may have read; ``None``: no cap.
    max_dataset_mb
        Largest dataset once decompressed (read from its metadata before it is loaded); ``None``: no cap.
    door
        The job door every job kind passes (slots, priority, limits, time limit, Dask).
    access
        Login and upload spaces.
    beeline_root, bench_dir, compare_dir
        The BEELINE folder and where benchmarks and comparisons are stored.
    first_key
        The result being computed in the background for a fresh server's first page (the demo), if any.
    """

    data_roots: tuple[Path, ...]
    cache: ResultCache
    upload_dir: Path
    max_upload_mb: int = 500
    max_file_mb: int | None = None
    max_dataset_mb: int | None = None
    door: JobDoor = OPEN_DOOR
    access: Access = field(default_factory=Access)
    beeline_root: Path | None = None
    bench_dir: Path | None = None
    compare_dir: Path | None = None
    first_key: str | None = None

    @property
    def limits(self) -> JobLimits:
        """The largest job, in cells and genes (the door's)."""
        return self.door.limits


def caller_space(config: AppConfig) -> Path | None:
    """The calling user's upload space (named by their login or their browser's cookie), ``None`` without
    either. In a background job, Dash hands over the launching request's headers and cookies."""
    if flask.has_request_context():
        headers, cookies = dict(flask.request.headers.items()), flask.request.cookies
    else:
        try:
            headers, cookies = ctx.headers, ctx.cookies
        except MissingCallbackContextException:  # called from Python, not by a request: no caller
            return None
    space = config.access.space(headers, cookies)
    return config.upload_dir / space if space else None


def roots_of(config: AppConfig) -> tuple[Path, ...]:
    """The folders the caller may read: the data roots and their own upload space."""
    space = caller_space(config)
    return (*config.data_roots, *([space] if space else []))


def gate_of(config: AppConfig) -> FileGate:
    """The gate every file named in the caller's request passes (:class:`~gridapp.jobs.gate.FileGate`)."""
    return FileGate.over(
        roots_of(config),
        max_bytes=_megabytes(config.max_file_mb),
        max_dataset_bytes=_megabytes(config.max_dataset_mb),
    )


def _megabytes(mb: int | None) -> int | None:
    return None if mb is None else mb * 2**20
