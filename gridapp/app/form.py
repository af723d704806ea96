"""The control column: the form's fields, the run they make (:func:`params_from_form`), the genes-detected
preview, and uploads."""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, no_update

from gridapp.app.config import AppConfig, _megabytes, caller_space, gate_of
from gridapp.app.words import in_page_words
from gridapp.core.aucell import choose_auc_threshold
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.methods import DEFAULT_METHOD, get_method
from gridapp.figures.auc import genes_detected
from gridapp.figures.base import placeholder
from gridapp.jobs.datasets import category_columns, count_cells, layer_names, obs_table
from gridapp.jobs.gate import FileGate, store_upload
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import NO_LIMITS, PREPARE_FIELDS, JobLimits, prepare

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
#: genes-detected previews kept (the least recently used is dropped first)
PREVIEW_CACHE_SIZE = 16
_PREVIEWS: OrderedDict[tuple, tuple[np.ndarray, int, float]] = OrderedDict()

DONOR_HINTS = ("donor", "sample", "patient", "individual")

CELLTYPE_HINTS = ("cell_type", "celltype", "cluster", "type", "label")


def suggest(columns: list[str], hints: tuple[str, ...]) -> str | None:
    """The first of ``columns`` whose name holds one of ``hints`` (in the hints' order)."""
    return next((c for hint in hints for c in columns if hint in c.lower()), None)


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
    (an over-limit subset is refused here, before anyone launches it), at its AUC threshold."""
    detected, n_genes, default_threshold = _genes_detected_per_cell(params, limits)
    return genes_detected(detected, n_genes, params.auc_threshold or default_threshold)


def preview_key(params: RunParams, limits: JobLimits) -> tuple:
    """What the genes-detected preview depends on: the dataset and TF list files as they are now (path, size,
    modification time), the settings :func:`~gridapp.jobs.pipeline.prepare` reads, and the limits."""
    files = [Path(params.input), Path(params.tfs)]
    stamps = [
        (str(path), path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else str(path) for path in files
    ]
    return (*stamps, *(getattr(params, name) for name in PREPARE_FIELDS), limits)


def _genes_detected_per_cell(params: RunParams, limits: JobLimits) -> tuple[np.ndarray, int, float]:
    """Genes detected per cell, the number of genes, and the AUC threshold chosen from them: computed once per
    :func:`preview_key` (the :data:`PREVIEW_CACHE_SIZE` most recent are kept)."""
    key = preview_key(params, limits)
    with PREVIEW_LOCK:  # numba's fork-safe workqueue layer must not run kernels from two threads at once
        if key not in _PREVIEWS:
            adata, _, _ = prepare(params, notes=[], limits=limits)
            _PREVIEWS[key] = (np.asarray((adata.X > 0).sum(axis=1)).ravel(), adata.n_vars, choose_auc_threshold(adata))
            while len(_PREVIEWS) > PREVIEW_CACHE_SIZE:
                _PREVIEWS.popitem(last=False)
        _PREVIEWS.move_to_end(key)
        return _PREVIEWS[key]


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


def register(app: Dash, config: AppConfig) -> None:
    """Attach the control column's callbacks."""
    _register_fields(app, config)
    _register_upload_and_preview(app, config)


def _register_fields(app: Dash, config: AppConfig) -> None:
    """Dataset, its columns and their values, the cell count, and the fields each method or pruning shows."""

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


def _register_upload_and_preview(app: Dash, config: AppConfig) -> None:
    """An upload joining the dataset list, and the genes-detected preview."""

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
