"""Callbacks of the Explore views: the controls make one view state, every view is drawn from it.

The controls (regulon, threshold, top-N, hops, occurrence, colouring, embedding, lasso selection,
prior, on/off thresholds, summary kind) feed :func:`collect_view`, which stores them as one
:class:`~gridapp.figures.views.ViewState` in the ``view`` store. Each view callback reads only that
store, re-checks it against the result it names (the store comes from the browser: any value may be
hostile) and draws with the Dash-free functions of :mod:`gridapp.figures.views`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, no_update

from gridapp.app.config import AppConfig, gate_of
from gridapp.app.form import FORM_FIELDS, params_from_form
from gridapp.app.words import computed_on, run_options, run_subset, table_payload
from gridapp.core.aucell import on_off, thresholds_of
from gridapp.core.errors import GridappError
from gridapp.figures.base import placeholder
from gridapp.figures.clustermap import clicked_cell
from gridapp.figures.importance import threshold_of_click
from gridapp.figures.network import TOP_TARGETS, network_elements
from gridapp.figures.views import (
    EMPTY,
    REGULON_AUC,
    ViewState,
    cell_views,
    colour_options,
    gene_lookup,
    importance_view,
    network_view,
    regulon_card,
    summary_views,
    threshold_range,
)
from gridapp.jobs.gate import safe_name
from gridapp.jobs.pipeline import Result

#: where each piece of the view state comes from: ViewState.from_values name → (component id, property)
VIEW_INPUTS = {
    "key": ("result-key", "data"),
    "regulon": ("regulon", "value"),
    "log_threshold": ("threshold", "value"),
    "top_n": ("top-n", "value"),
    "hops": ("hops", "value"),
    "occurrence": ("occurrence", "value"),
    "colour_by": ("colour-by", "value"),
    "embedding": ("embedding-kind", "value"),
    "selected": ("selected-cells", "data"),
    "prior": ("score-prior", "value"),
    "overrides": ("auc-overrides", "data"),
    "summary_kind": ("summary-kind", "value"),
    "dots": ("tf-dots", "value"),
}
#: the guide line above the views
GUIDE = (
    "Choose a dataset and cells on the left and press Launch, or open a cached run; then pick a regulon: "
    "every view follows it."
)


#: how often (every 3 s) a fresh page looks for its first result before it stops looking
FIRST_RESULT_POLLS = 300
#: the guide line while the demo's result is computed for a fresh server's first page
PREPARING = (
    "Preparing the demo result (computed once, in the background, a few minutes; it opens here when ready). "
    "Meanwhile choose cells on the left and press Launch, or look around."
)


def open_view(config: AppConfig, data: object) -> tuple[Result, ViewState, str] | None:
    """The result and the checked view state a ``view`` store names (``None`` without a stored result), with
    a message when its prior file may not be read (then no prior is scored)."""
    state = ViewState.from_values(data if isinstance(data, dict) else {})
    if not state.key or state.key not in config.cache:
        return None
    prior_error = ""
    if state.prior:
        try:
            state = replace(state, prior=str(gate_of(config).file(state.prior, "prior")))
        except GridappError as err:
            state, prior_error = replace(state, prior=None), str(err)
    result = config.cache.load(state.key)
    return result, state.validated(result)[0], prior_error


def register(app: Dash, config: AppConfig) -> None:
    """Attach the Explore views' callbacks to ``app``."""
    _register_result(app, config)
    _register_view_state(app, config)
    _register_views(app, config)
    _register_actions(app, config)


def _register_result(app: Dash, config: AppConfig) -> None:
    """Open a result (a run chosen, launched or opened) into the view controls; a fresh server's first page waits for
    the demo's result."""
    cache = config.cache

    @app.callback(
        Output("regulon", "options"),
        Output("regulon", "value"),
        Output("threshold", "min"),
        Output("threshold", "max"),
        Output("threshold", "value"),
        Output("threshold", "marks"),
        Output("colour-by", "options"),
        Output("colour-by", "value"),
        Output("cached-runs", "value"),
        Output("occurrence", "value"),
        Output("occurrence", "disabled"),
        Output("selected-cells", "data", allow_duplicate=True),
        Output("auc-overrides", "data"),
        Output("view-note", "children"),
        Output("result-info", "children"),
        Input("result-key", "data"),
        State("selected-cells", "data"),
        State("regulon", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def open_result(key, selected, shown_regulon):
        cells = selected.get("cells") if isinstance(selected, dict) else None
        dropped = (
            f"The {len(cells):,} cells selected on the previous run were dropped: select cells again."
            if isinstance(cells, list) and cells and selected.get("key") != key
            else ""
        )
        if not isinstance(key, str) or key not in cache:
            return [], None, -3, 3, 0, {}, [], None, no_update, 0, True, None, {}, dropped, GUIDE
        result = cache.load(key)
        regulons = list(result.adata.obsm["X_aucell"].columns)
        low, high, default = threshold_range(result)
        consensus = "occurrence" in result.adjacencies
        return (
            regulons,
            shown_regulon if shown_regulon in regulons else next(iter(regulons), None),  # kept across runs
            low,
            high,
            default,
            importance_marks(low, high),
            colour_options(result),
            REGULON_AUC,
            key,
            float(result.summary["params"].get("min_occurrence", 0)) if consensus else 0,
            not consensus,
            None if dropped else no_update,
            {},
            dropped,
            result_line(computed_on(cache, key), result),
        )

    @app.callback(
        Output("result-key", "data", allow_duplicate=True),
        Output("cached-runs", "options", allow_duplicate=True),
        Output("result-info", "children", allow_duplicate=True),
        Output("first-result-watch", "disabled"),
        Input("first-result-watch", "n_intervals"),
        State("result-key", "data"),
        prevent_initial_call=True,
    )
    def wait_for_first_result(n_intervals, key):
        if isinstance(key, str) and key in cache:
            return no_update, no_update, no_update, True
        runs = run_options(config)
        if runs:
            return runs[0]["value"], runs, no_update, True
        preparing = config.first_key is not None and cache.state(config.first_key) == "running"
        gave_up = not isinstance(n_intervals, int) or n_intervals > FIRST_RESULT_POLLS
        return no_update, no_update, PREPARING if preparing else GUIDE, gave_up


def _register_view_state(app: Dash, config: AppConfig) -> None:
    """The view's state: the lasso's cells and a full progress bar (in the browser), the controls as one value, and a
    click on the histogram as the threshold."""
    # in the browser, so that a redraw of the embedding cannot overtake the user's lasso (assets/gridapp.js)
    app.clientside_callback(
        ClientsideFunction("gridapp", "selectedCells"),
        Output("selected-cells", "data"),
        Input("embedding", "selectedData"),
        State("result-key", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("gridapp", "fullAtDone"),
        Output("progress", "value", allow_duplicate=True),
        Input("status", "children"),
        State("progress", "max"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("view", "data"),
        *[Input(component, prop) for component, prop in VIEW_INPUTS.values()],
    )
    def collect_view(*values):
        return ViewState.from_values(dict(zip(VIEW_INPUTS, values))).to_values()

    @app.callback(
        Output("threshold", "value", allow_duplicate=True),
        Input("importance-hist", "clickData"),
        prevent_initial_call=True,
    )
    def click_threshold(click):
        threshold = threshold_of_click(click)
        return no_update if threshold is None else threshold


def _register_views(app: Dash, config: AppConfig) -> None:
    """The views of the open result: histogram and network, embedding and AUC distribution, clustermap and TF heatmap,
    the regulon card and the gene search."""

    @app.callback(
        Output("importance-hist", "figure"),
        Output("network", "elements"),
        Output("edge-count", "children"),
        Output("network-info", "children"),
        Output("prior-score", "children"),
        Input("view", "data"),
    )
    def show_network(data):
        opened = open_view(config, data)
        if opened is None:
            return placeholder(EMPTY["importance"]), [], "", "", ""
        result, state, prior_error = opened
        network = network_view(result, state)
        panel = importance_view(result, state, network)
        elements = network_elements(network.edges, focus=network.focus, top=TOP_TARGETS)
        return panel.figure, elements, panel.kept, panel.shown, prior_error or panel.prior_note

    @app.callback(Output("embedding", "figure"), Output("auc-dist", "figure"), Input("view", "data"))
    def show_cells(data):
        opened = open_view(config, data)
        if opened is None:
            return placeholder(EMPTY["embedding"]), placeholder(EMPTY["auc"])
        result, state, _ = opened
        return cell_views(result, state)

    @app.callback(Output("clustermap", "figure"), Output("tf-heatmap", "figure"), Input("view", "data"))
    def show_summaries(data):
        opened = open_view(config, data)
        if opened is None:
            return placeholder(EMPTY["clustermap"]), placeholder(EMPTY["heatmap"])
        result, state, _ = opened
        return summary_views(result, state)

    @app.callback(
        Output("regulon-summary", "children"),
        Output("regulon-targets", "data"),
        Output("regulon-targets", "columns"),
        Input("view", "data"),
    )
    def show_regulon_card(data):
        opened = open_view(config, data)
        card = regulon_card(*opened[:2]) if opened else None
        if card is None:
            return "Select a regulon to see its targets here.", [], []
        return card.summary, *table_payload(card.targets)

    @app.callback(
        Output("gene-info", "children"),
        Output("gene-table", "data"),
        Output("gene-table", "columns"),
        Input("gene-search", "value"),
        Input("view", "data"),
    )
    def look_up_gene(gene, data):
        opened = open_view(config, data)
        if not (isinstance(gene, str) and gene.strip()) or opened is None:
            return "", [], []
        text, table = gene_lookup(opened[0], gene[:100], opened[1])
        return (text, *table_payload(table)) if len(table) else (text, [], [])


def _register_actions(app: Dash, config: AppConfig) -> None:
    """What the user does with a result: an AUC threshold set by a click, a regulon chosen from a view, a comparison
    form filled from the run, exports."""
    cache = config.cache

    @app.callback(
        Output("auc-overrides", "data", allow_duplicate=True),
        Input("auc-dist", "clickData"),
        State("view", "data"),
        State("auc-overrides", "data"),
        prevent_initial_call=True,
    )
    def set_auc_threshold(click, data, overrides):
        opened, x = open_view(config, data), clicked_x(click)
        if opened is None or not opened[1].regulon or not isinstance(x, int | float):
            return no_update
        return {**(overrides if isinstance(overrides, dict) else {}), opened[1].regulon: float(x)}

    @app.callback(
        Output("regulon", "value", allow_duplicate=True),
        Input("clustermap", "clickData"),
        Input("network", "tapNodeData"),
        State("regulon", "options"),
        prevent_initial_call=True,
    )
    def select_regulon(click, node, options):
        cell = clicked_cell(click) if ctx.triggered_id == "clustermap" else None
        name = cell[1] if cell else str((node or {}).get("id") if isinstance(node, dict) else "")
        names = [o for o in (options if isinstance(options, list) else []) if isinstance(o, str)]
        return next((o for o in names if name in (o, o.split("(")[0])), no_update)

    @app.callback(
        Output("form-note", "children"),
        Input("result-key", "data"),
        *[Input(field, "value") for field in FORM_FIELDS],
    )
    def compare_form(key, *values):
        if not isinstance(key, str) or key not in cache:
            return ""
        try:
            params = params_from_form(config, dict(zip(FORM_FIELDS, values)))
        except GridappError:
            return ""
        differences = params.differences(cache.load(key).summary["params"])
        if not differences:
            return ""
        return f"The form differs from the result shown ({'; '.join(differences[:4])}): Launch to compute it."

    @app.callback(
        Output("download", "data"),
        Input("export-edges", "n_clicks"),
        Input("export-gmt", "n_clicks"),
        Input("export-auc", "n_clicks"),
        Input("export-binary", "n_clicks"),
        State("view", "data"),
        prevent_initial_call=True,
    )
    def export(_edges, _gmt, _auc, _binary, data):
        opened = open_view(config, data)
        if opened is None:
            return no_update
        result, state, _ = opened
        if ctx.triggered_id == "export-edges":
            edges = network_view(result, state).edges
            name = subnetwork_filename(state.regulon, 10 ** (state.log_threshold or 0))
            return dcc.send_data_frame(edges.to_csv, name, index=False)
        if ctx.triggered_id == "export-binary":
            adata = result.adata
            binary = on_off(adata.obsm["X_aucell"], thresholds_of(adata, dict(state.overrides)))
            return dcc.send_data_frame(binary.to_csv, "auc_binary.csv", index_label="cell")
        files = {"export-gmt": "regulons.gmt", "export-auc": "auc.csv"}
        return dcc.send_file(str(cache.path(state.key) / files[ctx.triggered_id]))


def subnetwork_filename(regulon: str | None, threshold: float) -> str:
    """The exported subnetwork's file name: ``subnetwork_SPI1+_importance-over-7.76.csv`` for regulon
    ``SPI1(+)`` above importance 7.76 (``all`` without a regulon)."""
    regulon_part = safe_name(str(regulon).replace("(", "").replace(")", "")) if regulon else "all"
    return f"subnetwork_{regulon_part}_importance-over-{threshold:.3g}.csv"


def clicked_x(click: object) -> object:
    """The ``x`` of the first point of a plotly click (``None`` for anything else a request may hold)."""
    try:
        return click["points"][0]["x"]
    except (TypeError, KeyError, IndexError):
        return None


def importance_marks(low: float, high: float, most: int = 6) -> dict:
    """Slider marks in importance units at whole powers of ten within [low, high] (log10), at most ``most``."""
    powers = list(range(int(np.ceil(low)), int(np.floor(high)) + 1))
    stride = max(1, -(-len(powers) // most))
    marks = {p: f"{10.0**p:g}" for p in powers[::-1][::stride]}
    return marks or {low: f"{10**low:.2g}", high: f"{10**high:.2g}"}


def result_line(computed: str, result: Result) -> str:
    """One line naming the result shown: its input, cells, regulons and when it was ``computed``."""
    params, counts = result.summary["params"], result.summary["counts"]
    return (
        f"Showing {Path(str(params['input'])).name} · {run_subset(params)} · {counts['cells']:,} cells · "
        f"{counts['regulons']:,} regulons · computed {computed}."
    )
