"""Thin callbacks: each reads its inputs, calls the core / jobs / figures layers, returns outputs."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import flask
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, no_update, set_props
from dash.dash_table.Format import Format, Scheme
from dash.exceptions import MissingCallbackContextException

from gridapp.app.access import Access
from gridapp.core.aucell import choose_auc_threshold
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.methods import DEFAULT_METHOD, get_method
from gridapp.figures.auc import genes_detected
from gridapp.figures.base import placeholder
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.datasets import category_columns, count_cells, layer_names, obs_table
from gridapp.jobs.gate import FileGate, store_upload
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import NO_LIMITS, STEPS, JobLimits, prepare
from gridapp.jobs.runner import OPEN_DOOR, JobDoor, launch

logger = logging.getLogger(__name__)

#: Control-column components whose values make a RunParams (see params_from_form).
FORM_FIELDS = (
    "dataset",
    "tfs",
    "donor-key",
    "donors",
    "celltype-key",
    "cell-types",
    "method",
    "target-layer",
    "tf-layer",
    "fdr",
    "train-prior",
    "seed",
    "runs-count",
    "min-occurrence",
    "n-top-genes",
    "auc-threshold",
    "prune",
    "prior",
    "prior-confidence",
    "motif-dbs",
    "motif-annotations",
)
#: The fields that change which cells and genes a run would use (the genes-detected preview follows them).
PREVIEW_FIELDS = ("dataset", "tfs", "donors", "cell-types", "n-top-genes", "auc-threshold")
PREVIEW_LOCK = threading.Lock()
#: status lines of a job still on its way
IN_PROGRESS = ("step ", "Queued")
QUEUED = "Queued: starting the job …"
JOB_LOST = (
    "Failed: the job stopped before storing its result (its process or worker was lost, e.g. out of memory). "
    "Nothing was stored and earlier results are unchanged; launch again to retry."
)
DONOR_HINTS = ("donor", "sample", "patient", "individual")
CELLTYPE_HINTS = ("cell_type", "celltype", "cluster", "type", "label")


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


def run_options(config: AppConfig) -> list[dict]:
    """Dropdown options for the cached runs the caller may see, newest first: runs on the data roots, and
    runs on uploads of the caller's own space (never another user's)."""
    space = caller_space(config)
    options = []
    for run in config.cache.runs():
        params, counts = run.params, run.summary["counts"]
        source = Path(params["input"])
        if source.is_relative_to(config.upload_dir) and not (space and source.is_relative_to(space)):
            continue
        label = (
            f"{source.name} · {run_subset(params)} · {params['method']} seed {params['seed']} · "
            f"{params['prune']} · {counts['regulons']} regulons"
        )
        options.append({"label": label, "value": run.key})
    return options


def run_subset(params: dict) -> str:
    """The cells a run used, in words: its cell types (or all cells), donors and groups (a comparison's)."""
    parts = [", ".join(params.get("cell_types") or []) or "all cells"]
    if params.get("donors"):
        parts.append(f"donors {', '.join(params['donors'])}")
    if params.get("groups"):
        parts.append(f"{params.get('group_key')}: {' + '.join(params['groups'])}")
    return " · ".join(parts)


def computed_on(cache: ResultCache, key: str) -> str:
    """When the result under ``key`` was stored, to the minute (local time)."""
    stored = (cache.path(key) / "run.json").stat().st_mtime
    return dt.datetime.fromtimestamp(stored).strftime("%Y-%m-%d %H:%M")


def table_payload(table: pd.DataFrame | None) -> tuple[list[dict], list[dict]]:
    """A DataTable's rows and columns for ``table``: numbers stay sortable and show 3 significant digits,
    booleans read yes / no."""
    if table is None:
        return [], []
    shown = table.assign(**{c: table[c].map({True: "yes", False: "no"}) for c in table if table[c].dtype == bool})
    number = {"type": "numeric", "format": Format(precision=3, scheme=Scheme.decimal_or_exponent)}
    columns = [{"name": c, "id": c, **(number if pd.api.types.is_float_dtype(shown[c]) else {})} for c in shown]
    return shown.to_dict("records"), columns


def suggest(columns: list[str], hints: tuple[str, ...]) -> str | None:
    """The first of ``columns`` whose name holds one of ``hints`` (in the hints' order)."""
    return next((c for hint in hints for c in columns if hint in c.lower()), None)


def register(app: Dash, config: AppConfig) -> None:
    """Attach every callback of the dashboard to ``app``."""
    cache = config.cache

    @app.callback(
        Output("donor-key", "options"),
        Output("donor-key", "value"),
        Output("celltype-key", "options"),
        Output("celltype-key", "value"),
        Output("target-layer", "options"),
        Output("tf-layer", "options"),
        Output("message", "children", allow_duplicate=True),
        Input("dataset", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def choose_dataset(dataset):
        if not dataset:
            return [], None, [], None, [], [], ""
        try:
            path = gate_of(config).dataset(dataset)
            columns, layers = list(category_columns(obs_table(path))), layer_names(path)
        except GridappError as err:
            return [], None, [], None, [], [], str(err)
        donor, celltype = suggest(columns, DONOR_HINTS), suggest(columns, CELLTYPE_HINTS)
        return columns, donor, columns, celltype, layers, layers, ""

    @app.callback(Output("layer-fields", "hidden"), Output("train-fields", "hidden"), Input("method", "value"))
    def show_method_fields(method):
        options = get_method(method or DEFAULT_METHOD).options
        return "target_layer" not in options, "train_prior" not in options

    for key_id, values_id in (("donor-key", "donors"), ("celltype-key", "cell-types")):

        @app.callback(
            Output(values_id, "options"), Output(values_id, "value"), Input(key_id, "value"), State("dataset", "value")
        )
        def choose_column(column, dataset):
            if not (column and dataset):
                return [], []
            try:
                counts = category_columns(obs_table(gate_of(config).dataset(dataset))).get(column, {})
            except GridappError:
                return [], []
            return [{"label": f"{value} ({n:,} cells)", "value": value} for value, n in counts.items()], []

    @app.callback(
        Output("cell-count", "children"),
        Input("donors", "value"),
        Input("cell-types", "value"),
        State("donor-key", "value"),
        State("celltype-key", "value"),
        State("dataset", "value"),
    )
    def show_cell_count(donors, cell_types, donor_key, celltype_key, dataset):
        if not dataset:
            return ""
        try:
            obs = obs_table(gate_of(config).dataset(dataset))
        except GridappError as err:
            return str(err)
        n = count_cells(obs, [(donor_key, donors or []), (celltype_key, cell_types or [])])
        return f"{n:,} of {len(obs):,} cells selected"

    @app.callback(Output("prior-fields", "hidden"), Output("motif-fields", "hidden"), Input("prune", "value"))
    def show_pruning_fields(prune):
        return prune != "prior", prune != "cistarget"

    @app.callback(
        Output("dataset", "options"),
        Output("dataset", "value"),
        Output("message", "children", allow_duplicate=True),
        Input("upload", "contents"),
        State("upload", "filename"),
        State("dataset", "options"),
        prevent_initial_call=True,
    )
    def receive_upload(contents, filename, options):
        try:
            path = save_upload(contents, filename, config, caller_space(config))
        except GridappError as err:
            return no_update, no_update, f"Upload refused: {err}"
        option = {"label": f"{path.name} (uploaded)", "value": str(path)}
        return [*[o for o in options or [] if o != option], option], str(path), ""

    @app.callback(
        Output("genes-detected", "figure"),
        *[Input(field, "value") for field in PREVIEW_FIELDS],
        *[State(field, "value") for field in ("donor-key", "celltype-key")],
    )
    def show_genes_detected(*values):
        form = dict(zip((*PREVIEW_FIELDS, "donor-key", "celltype-key"), values))
        try:
            return detected_outputs(params_from_form(config, {**form, "prune": "none"}), config.limits)
        except GridappError as err:
            return placeholder(in_page_words(err), height=160)

    def form_params(values: tuple) -> RunParams:
        """The run the Launch button would start, from the form's values in FORM_FIELDS order."""
        return params_from_form(config, dict(zip(FORM_FIELDS, values)))

    @app.callback(
        Output("result-key", "data"),
        Output("status", "children"),
        Output("runs", "options"),
        Input("launch", "n_clicks"),
        *[State(field, "value") for field in FORM_FIELDS],
        progress=[Output("progress", "value"), Output("status", "children"), Output("job-key", "data")],
        **background_job("launch", "cancel"),
    )
    def launch_run(set_progress, n_clicks, *values):
        try:
            params = form_params(values)
            job = {"launch": n_clicks, "key": cache.key(params)}  # hashed here, in the job, never in a request
            if job["key"] in cache:
                return job["key"], f"Opened from cache (computed {computed_on(cache, job['key'])}).", no_update
            key = launch(
                params,
                cache,
                config.door,
                progress=lambda i, n, name: set_progress((str(i), f"step {i + 1}/{n}: {name} …", job)),
            )
        except GridappError as err:
            return no_update, f"Run failed: {in_page_words(err)}", no_update
        return key, f"Done: {len(STEPS)}/{len(STEPS)} steps.", run_options(config)

    say_on_click(app, "cancel", "status", "progress", "Cancelled: nothing was stored; earlier results are unchanged.")

    @app.callback(
        Output("launched", "data"),
        Output("job-watch", "disabled"),
        Output("status", "children", allow_duplicate=True),
        Output("message", "children", allow_duplicate=True),
        Input("launch", "n_clicks"),
        prevent_initial_call=True,
    )
    def watch_launch(n_clicks):
        # the job reports its key (job-key); an earlier message (a refused upload, ...) is about something else
        return {"launch": n_clicks, "started": False}, False, QUEUED, ""

    @app.callback(
        Output("launched", "data", allow_duplicate=True),
        Output("job-watch", "disabled", allow_duplicate=True),
        Output("status", "children", allow_duplicate=True),
        Output("launch", "disabled", allow_duplicate=True),
        Output("cancel", "disabled", allow_duplicate=True),
        Input("job-watch", "n_intervals"),
        State("launched", "data"),
        State("job-key", "data"),
        State("status", "children"),
        State("launch", "disabled"),
        prevent_initial_call=True,
    )
    def watch_job(_, launched, job, status, launch_disabled):
        if not isinstance(launched, dict):
            return None, True, no_update, no_update, no_update
        key = job.get("key") if isinstance(job, dict) and job.get("launch") == launched.get("launch") else None
        verdict = job_verdict(cache.state(key), bool(launched.get("started")), status, launch_disabled)
        if verdict == "running":
            return {**launched, "started": True}, False, no_update, no_update, no_update
        if verdict == "waiting":
            return no_update, False, no_update, no_update, no_update
        if verdict == "lost":
            return None, True, JOB_LOST, False, True
        return None, True, no_update, no_update, no_update

    @app.callback(
        Output("result-key", "data", allow_duplicate=True),
        Output("runs", "options", allow_duplicate=True),
        Output("message", "children", allow_duplicate=True),
        Input("open-output", "n_clicks"),
        State("pyscenic-folder", "value"),
        State("pyscenic-expression", "value"),
        prevent_initial_call=True,
    )
    def open_output(_, folder, expression):
        # any other failure is said on the page by the app's error handler (report_error); results stay
        try:
            gate = gate_of(config)
            source = gate.folder(folder, "pySCENIC output folder")
            dataset = gate.dataset(expression) if expression else None
            columns = list(category_columns(obs_table(dataset))) if dataset else []
            key = cache.import_pyscenic(source, dataset, suggest(columns, CELLTYPE_HINTS))
        except GridappError as err:
            return no_update, no_update, f"Cannot open that output: {in_page_words(err)}"
        return key, run_options(config), ""

    @app.callback(Output("result-key", "data", allow_duplicate=True), Input("runs", "value"), prevent_initial_call=True)
    def open_run(key):
        return key or no_update

    @app.callback(
        Output("enrichment-table", "data"),
        Output("enrichment-table", "columns"),
        Output("enrichment-panel", "hidden"),
        Input("result-key", "data"),
    )
    def show_enrichment(key):
        table = cache.load(key).adata.uns.get("enrichment") if key and key in cache else None
        if not isinstance(table, pd.DataFrame):
            return [], [], True
        return *table_payload(table), False

    @app.callback(
        Output("explore-page", "hidden"),
        Output("explore-views", "hidden"),
        Output("compare-views", "hidden"),
        Output("benchmark-page", "hidden"),
        Input("page", "value"),
    )
    def switch_page(page):
        return page == "Benchmark", page != "Explore", page != "Compare", page != "Benchmark"


def job_verdict(state: str, started: bool, status: str | None, launch_disabled: bool | None) -> str:
    """What the job watcher makes of a launched run.

    Parameters
    ----------
    state
        The result's :meth:`~gridapp.jobs.cache.ResultCache.state`: ``done``, ``running`` or ``idle``.
    started
        Whether the watcher has seen it running before.
    status
        The status line now (progress text while the job is on).
    launch_disabled
        Whether the Launch button is still disabled (Dash re-enables it when it sees the job end).

    Returns
    -------
    ``running``, ``waiting`` (queued, not started), ``lost`` (it stopped without storing a result and
    without saying why: its process or worker died) or ``over`` (stored, failed with a message, or
    cancelled: nothing left to watch).
    """
    if state == "running":
        return "running"
    in_progress = bool(status) and str(status).startswith(IN_PROGRESS)
    if state == "done" or not in_progress:
        return "over"
    return "lost" if started or not launch_disabled else "waiting"


def background_job(start: str, cancel: str, bar: str | None = None, status: str | None = None) -> dict:
    """Callback arguments of a job run in the background from button ``start``, cancelled by ``cancel``.

    With a progress ``bar`` and a ``status`` line, the callback's ``set_progress`` takes ``(done, total,
    text)``.
    """
    arguments = {
        "background": True,
        "running": [(Output(start, "disabled"), True, False), (Output(cancel, "disabled"), False, True)],
        "cancel": [Input(cancel, "n_clicks")],
        "prevent_initial_call": True,
    }
    if bar and status:
        arguments["progress"] = [Output(bar, "value"), Output(bar, "max"), Output(status, "children")]
    return arguments


def say_on_click(app: Dash, button: str, status: str, progress: str, note: str) -> None:
    """When ``button`` is clicked (a job's start or cancel), say ``note`` in ``status`` at once and empty
    ``progress``: the page answers before the job's process has started."""

    @app.callback(
        Output(status, "children", allow_duplicate=True),
        Output(progress, "value", allow_duplicate=True),
        Input(button, "n_clicks"),
        prevent_initial_call=True,
    )
    def cancelled(_):
        return note, "0"


def store_once(folder: Path, write: Callable[[Path], object]) -> None:
    """``write`` into a scratch folder beside ``folder``, then rename it into place: no half-written folder is
    ever seen, and when an identical job finished first its folder is kept."""
    scratch = folder.parent / f".{uuid.uuid4().hex}"
    scratch.mkdir(parents=True)
    try:
        write(scratch)
        with contextlib.suppress(OSError):  # an identical job finished first: keep its folder
            scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def params_from_form(config: AppConfig, form: dict) -> RunParams:
    """RunParams from the control column's values, keyed by component id (paths checked against the data roots)."""
    if not (form.get("dataset") and form.get("tfs")):
        raise GridappError("Choose a dataset and a TF list.")
    gate = gate_of(config)
    prune = form.get("prune") or "none"
    donors, cell_types = tuple(form.get("donors") or ()), tuple(form.get("cell-types") or ())
    method = get_method(str(form.get("method") or DEFAULT_METHOD))
    try:
        return _run_params(form, gate, method, prune, donors, cell_types)
    except (TypeError, ValueError) as err:
        raise GridappError(
            f"A setting of the form has a value of the wrong kind ({err}).", "Correct it, or reload the page."
        ) from err


def _run_params(form: dict, gate: FileGate, method, prune: str, donors: tuple, cell_types: tuple) -> RunParams:
    return RunParams(
        input=str(gate.dataset(form["dataset"])),
        tfs=str(gate.file(form["tfs"], "TF list")),
        donor_key=form.get("donor-key") if donors else None,
        donors=donors,
        cell_type_key=form.get("celltype-key"),
        cell_types=cell_types,
        method=method.id,
        target_layer=form.get("target-layer") if "target_layer" in method.options else None,
        tf_layer=form.get("tf-layer") if "tf_layer" in method.options else None,
        fdr=float(form.get("fdr") or 0.05),
        train_prior=str(gate.file(form["train-prior"], "training prior"))
        if "train_prior" in method.options and form.get("train-prior")
        else None,
        seed=int(form.get("seed") or 0),
        runs=int(form.get("runs-count") or 1),
        min_occurrence=float(form.get("min-occurrence") or 0.8),
        n_top_genes=int(form.get("n-top-genes") or 3000),
        auc_threshold=form.get("auc-threshold") or None,
        prune=prune,
        prior=str(gate.file(form.get("prior"), "prior")) if prune == "prior" and form.get("prior") else None,
        prior_confidence=tuple(form.get("prior-confidence") or ()) if prune == "prior" else (),
        motif_dbs=tuple(map(str, gate.files(form.get("motif-dbs") or [], "motif database")))
        if prune == "cistarget"
        else (),
        motif_annotations=str(gate.file(form.get("motif-annotations"), "motif annotation table"))
        if prune == "cistarget" and form.get("motif-annotations")
        else None,
    )


def detected_outputs(params: RunParams, limits: JobLimits = NO_LIMITS) -> go.Figure:
    """The genes-detected-per-cell plot for the cells and genes a run with ``params`` would use
    (an over-limit subset is refused here, before anyone launches it)."""
    with PREVIEW_LOCK:  # numba's fork-safe workqueue layer must not run kernels from two threads at once
        adata, _, _ = prepare(params, notes=[], limits=limits)
    detected = np.asarray((adata.X > 0).sum(axis=1)).ravel()
    threshold = params.auc_threshold or choose_auc_threshold(adata)
    return genes_detected(detected, adata.n_vars, threshold)


def save_upload(contents: object, filename: object, config: AppConfig, space: Path | None) -> Path:
    """Validate an uploaded dataset and keep it, by content, in the uploader's ``space``.

    Refused with a message: a caller without a space, a payload that is not a base64 data URL, one over
    ``max_upload_mb`` (told from its length before it is decoded), a file that unpacks past the
    dataset limit (read from its metadata before it is loaded), or one that does not read as a dataset
    with cell annotations. Nothing is kept of a refused upload.
    """
    name = str(filename or "upload")
    if space is None:
        raise GridappError("This browser has no upload space yet.", "Reload the page (allow cookies) and upload again.")
    if not isinstance(contents, str) or "," not in contents:
        raise GridappError(f"{name}: the upload is not a file.", "Upload the file again.")
    encoded = contents.split(",", 1)[1]
    if len(encoded) * 3 // 4 > config.max_upload_mb * 2**20:
        raise GridappError(
            f"{name}: {len(encoded) * 3 / 4 / 2**20:,.0f} MB is over the {config.max_upload_mb} MB limit.",
            "Subset the data first, or ask the administrator to raise the limit.",
        )
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise GridappError(f"{name}: the upload is not a file.", "Upload the file again.") from err
    gate = FileGate.over([space], max_dataset_bytes=_megabytes(config.max_dataset_mb))

    def validate(scratch: Path) -> None:
        try:
            gate.dataset(scratch)
            adata, _ = read_dataset(scratch)
            if not category_columns(adata.obs):
                raise GridappError(
                    f"{name}: has no obs column to choose cells by (donor, cell type, ...).",
                    "Add cell annotations to obs before uploading.",
                )
        except GridappError as err:
            raise GridappError(err.message.replace(scratch.name, name), err.hint) from err

    return store_upload(space, name, payload, validate)


def _megabytes(mb: int | None) -> int | None:
    return None if mb is None else mb * 2**20


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


#: command-line options that messages of the core and jobs layers name, and the controls that set them on the page
PAGE_WORDS = (
    (r"--motif-db FILE \[FILE \.\.\.\]", "'Ranking databases'"),
    (r"--motif-annotations FILE", "'Motif annotations'"),
    (r"--train-prior FILE", "a 'Training prior'"),
    (r"--prior FILE", "a 'Prior network'"),
    (r"--prior-confidence", "'DoRothEA confidence'"),
    (r"--train-prior", "'Training prior'"),
    (r"--min-occurrence", "'Min occurrence'"),
    (r"--n-top-genes", "'Top genes'"),
    (r"--auc-threshold", "'AUC threshold'"),
    (r"--runs", "'Runs'"),
    (r"--no-prune", "pruning 'none'"),
    (r"--method (\w+)", r"the method \1"),
    (r"--split (\S+)", r"'Pairs scored' \1"),
    (r"--seeds", "'Seeds'"),
    (r"pass --gene-symbols COLUMN", "upload the file with a var column of gene symbols"),
    (r"--gene-symbols COLUMN", "a var column of gene symbols"),
)


def in_page_words(err: GridappError) -> str:
    """``err``'s message and hint with each command-line option named as the page's control that sets it."""
    text = str(err)
    for option, control in PAGE_WORDS:
        text = re.sub(option, control, text)
    return text


def report_error(err: Exception) -> None:
    """The dashboard's handler of an unexpected error in any callback: logged with its traceback on the
    server, and a message instead of an HTTP 500 on the page (earlier results stay as they were)."""
    logger.error("callback %s failed", ctx.triggered_id if ctx else "?", exc_info=err)
    set_props(
        "message",
        {
            "children": "That request could not be answered (it may not match this page: reload it). "
            "Earlier results are unchanged."
        },
    )
