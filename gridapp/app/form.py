"""The control column: the form's fields, the run they make (:func:`params_from_form`), the genes-detected
preview, and uploads."""

from __future__ import annotations

import base64
import binascii
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
from gridapp.core.methods import get_method
from gridapp.figures.auc import genes_detected
from gridapp.figures.base import placeholder
from gridapp.jobs.datasets import category_columns, count_cells, layer_names, obs_table
from gridapp.jobs.gate import FileGate, store_upload
from gridapp.jobs.params import RunParams, file_version
from gridapp.jobs.pipeline import KERNELS_LOCK, NO_LIMITS, PREPARE_FIELDS, JobLimits, prepare
from gridapp.jobs.settings import BY_NAME, form_settings, prepare_settings

#: Control-column components whose values make a RunParams (see params_from_form): one per setting the form shows.
FORM_FIELDS = tuple(setting.component for setting in form_settings())

#: The fields that change which cells and genes a run would use, and the AUC threshold: the genes-detected
#: preview follows them.
PREVIEW_FIELDS = (*(setting.component for setting in prepare_settings() if setting.in_form), "auc-threshold")

#: genes-detected previews kept (the least recently used is dropped first)
PREVIEW_CACHE_SIZE = 16
_PREVIEWS: OrderedDict[tuple, tuple[np.ndarray, int, float]] = OrderedDict()

DONOR_HINTS = ("donor", "sample", "patient", "individual")

CELLTYPE_HINTS = ("cell_type", "celltype", "cluster", "type", "label")


def suggest(columns: list[str], hints: tuple[str, ...]) -> str | None:
    """The first of ``columns`` whose name holds one of ``hints`` (in the hints' order)."""
    return next((c for hint in hints for c in columns if hint in c.lower()), None)


def params_from_form(config: AppConfig, form: dict) -> RunParams:
    """RunParams from the control column's values, keyed by component id (paths checked against the data roots).

    Each setting's value is read as its type (an empty control: its default); a setting that does not apply to
    the chosen method or pruning mode is left at its default, and the donor column only counts with donors."""
    if not (form.get("input") and form.get("tfs")):
        raise GridappError("Choose a dataset and a TF list.")
    try:
        values = {setting.name: setting.from_form(form.get(setting.component)) for setting in form_settings()}
    except (TypeError, ValueError) as err:
        raise GridappError(
            f"A setting of the form has a value of the wrong kind ({err}).", "Correct it, or reload the page."
        ) from err
    method = get_method(values["method"])
    for setting in form_settings():
        idle = (setting.method_option and setting.name not in method.options) or (
            setting.prune_mode not in (None, values["prune"])
        )
        if idle:
            values[setting.name] = setting.default
    if not values["donors"]:
        values["donor_key"] = None
    return RunParams(**_gated(values, gate_of(config)))


def _gated(values: dict, gate: FileGate) -> dict:
    """``values`` with every file setting's path checked by ``gate`` (inside the data roots, a regular file of
    an acceptable size) and resolved."""
    for setting in form_settings():
        value = values[setting.name]
        if setting.kind == "file" and value:
            values[setting.name] = str(
                gate.dataset(value) if setting.name == "input" else gate.file(value, setting.label)
            )
        elif setting.kind == "files":
            values[setting.name] = tuple(map(str, gate.files(value, setting.label)))
    return values


def detected_outputs(params: RunParams, limits: JobLimits = NO_LIMITS) -> go.Figure:
    """The genes-detected-per-cell plot for the cells and genes a run with ``params`` would use
    (an over-limit subset is refused here, before anyone launches it), at its AUC threshold."""
    detected, n_genes, default_threshold = _genes_detected_per_cell(params, limits)
    return genes_detected(detected, n_genes, params.auc_threshold or default_threshold)


def preview_key(params: RunParams, limits: JobLimits) -> tuple:
    """What the genes-detected preview depends on: the dataset and TF list files as they are now (path, size,
    modification time), the settings :func:`~gridapp.jobs.pipeline.prepare` reads, and the limits."""
    versions = [file_version(path) if Path(path).is_file() else path for path in (params.input, params.tfs)]
    return (*versions, *(getattr(params, name) for name in PREPARE_FIELDS), limits)


def _genes_detected_per_cell(params: RunParams, limits: JobLimits) -> tuple[np.ndarray, int, float]:
    """Genes detected per cell, the number of genes, and the AUC threshold chosen from them: computed once per
    :func:`preview_key` (the :data:`PREVIEW_CACHE_SIZE` most recent are kept)."""
    key = preview_key(params, limits)
    with KERNELS_LOCK:  # not beside the server's warm-up, nor another preview
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
        Output("cell-type-key", "options"),
        Output("cell-type-key", "value"),
        Output("target-layer", "options"),
        Output("tf-layer", "options"),
        Output("message", "children", allow_duplicate=True),
        Input("input", "value"),
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
        options = get_method(method or BY_NAME["method"].default).options
        return "target_layer" not in options, "train_prior" not in options

    for key_id, values_id in (("donor-key", "donors"), ("cell-type-key", "cell-types")):

        @app.callback(
            Output(values_id, "options"), Output(values_id, "value"), Input(key_id, "value"), State("input", "value")
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
        State("cell-type-key", "value"),
        State("input", "value"),
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
        Output("input", "options"),
        Output("input", "value"),
        Output("message", "children", allow_duplicate=True),
        Input("upload", "contents"),
        State("upload", "filename"),
        State("input", "options"),
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
    )
    def show_genes_detected(*values):
        form = dict(zip(PREVIEW_FIELDS, values))
        try:
            return detected_outputs(params_from_form(config, {**form, "prune": "none"}), config.limits)
        except GridappError as err:
            return placeholder(in_page_words(err), height=160)
