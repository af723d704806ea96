"""Callbacks of the Compare view: choose two groups, compare them in the background, explore the tables.

The comparison's run on both groups becomes the Explore page's current result, so a regulon clicked
on the volcano is selected in every linked view of both pages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dash import Dash, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from gridapp.app.callbacks import (
    FORM_FIELDS,
    AppConfig,
    background_job,
    gate_of,
    params_from_form,
    report_cancel,
    run_options,
    store_once,
    table_payload,
)
from gridapp.core.errors import GridappError
from gridapp.figures.compare import delta_heatmap, rewiring_elements, split_embedding, volcano
from gridapp.jobs.cache import is_key
from gridapp.jobs.compare import (
    TABLES,
    CompareResult,
    CompareSpec,
    compare_key,
    load_compare,
    run_compare,
    save_compare,
)
from gridapp.jobs.datasets import category_columns, obs_table
from gridapp.jobs.pipeline import Progress

GROUP_HINTS = ("group", "condition", "stim", "treatment", "status")


def register(app: Dash, config: AppConfig) -> None:
    """Attach the Compare view's callbacks to ``app``."""

    @app.callback(Output("group-key", "options"), Output("group-key", "value"), Input("dataset", "value"))
    def choose_group_column(dataset):
        columns = _columns(config, dataset)
        return list(columns), next((c for h in GROUP_HINTS for c in columns if h in c.lower()), None)

    @app.callback(
        Output("group-a", "options"),
        Output("group-a", "value"),
        Output("group-b", "options"),
        Output("group-b", "value"),
        Input("group-key", "value"),
        State("dataset", "value"),
    )
    def choose_groups(column, dataset):
        counts = _columns(config, dataset).get(column, {}) if column else {}
        options = [{"label": f"{value} ({n:,} cells)", "value": value} for value, n in counts.items()]
        values = list(counts)
        return options, values[0] if values else None, options, values[1] if len(values) > 1 else None

    @app.callback(
        Output("comparison", "data"),
        Output("compare-status", "children"),
        Input("compare-run", "n_clicks"),
        *[State(field, "value") for field in FORM_FIELDS],
        State("group-key", "value"),
        State("group-a", "value"),
        State("group-b", "value"),
        State("compare-top", "value"),
        State("compare-reproducibility", "value"),
        **background_job("compare-run", "compare-cancel", "compare-progress", "compare-status"),
    )
    def launch_comparison(set_progress, _, *values):
        form = dict(zip(FORM_FIELDS, values[: len(FORM_FIELDS)]))
        group_key, group_a, group_b, top_edges, reproducibility = values[len(FORM_FIELDS) :]
        try:
            spec = CompareSpec(
                base=params_from_form(config, form).with_changes(donor_key=form.get("donor-key")),
                group_key=group_key,
                groups=tuple(g for g in (group_a, group_b) if g),
                reproducibility=bool(reproducibility),
                top_edges=int(top_edges or 5000),
            )
            if group_a == group_b:
                raise GridappError("Choose two different groups.")
            key = comparison_outputs(
                config,
                spec,
                lambda done, total, label: set_progress((str(done), str(total), f"{done}/{total} runs: {label} …")),
            )
        except GridappError as err:
            return no_update, f"Comparison failed: {err}"
        return key, "Done: the run on both groups is also open on the Explore page."

    report_cancel(
        app,
        "compare-cancel",
        "compare-status",
        "compare-progress",
        "Cancelled: runs finished so far stay cached; earlier comparisons are unchanged.",
    )

    @app.callback(
        Output("result-key", "data", allow_duplicate=True),
        Output("runs", "options", allow_duplicate=True),
        Input("comparison", "data"),
        prevent_initial_call=True,
    )
    def open_union_run(key):
        result = _comparison(config.compare_dir, key)
        if result is None:
            raise PreventUpdate
        return result.keys["union"], run_options(config)

    @app.callback(
        Output("compare-celltype", "options"),
        Output("compare-celltype", "value"),
        Output("delta-heatmap", "figure"),
        Output("reproducibility-table", "data"),
        Output("reproducibility-table", "columns"),
        Input("comparison", "data"),
        State("compare-celltype", "value"),
    )
    def show_comparison(key, chosen):
        result = _comparison(config.compare_dir, key)
        if result is None or result.differential is None:
            return [], None, {}, [], []
        types = sorted(result.differential["cell_type"].unique())
        rows, columns = table_payload(result.reproducibility)
        return types, chosen if chosen in types else types[0], delta_heatmap(result.differential), rows, columns

    @app.callback(
        Output("volcano", "figure"),
        Input("comparison", "data"),
        Input("compare-celltype", "value"),
        Input("regulon", "value"),
    )
    def show_volcano(key, cell_type, regulon):
        result = _comparison(config.compare_dir, key)
        if result is None or result.differential is None or not cell_type:
            return {}
        return volcano(result.differential, cell_type, selected=regulon)

    @app.callback(
        Output("regulon", "value", allow_duplicate=True),
        Input("volcano", "clickData"),
        Input("delta-heatmap", "clickData"),
        prevent_initial_call=True,
    )
    def select_clicked_regulon(volcano_click, heatmap_click):
        point = ((volcano_click if ctx.triggered_id == "volcano" else heatmap_click) or {}).get("points", [{}])[0]
        return point.get("customdata") or point.get("x") or no_update

    @app.callback(
        Output("split-embedding", "figure"),
        Output("rewiring-network", "elements"),
        Output("rewiring-info", "children"),
        Input("comparison", "data"),
        Input("regulon", "value"),
    )
    def show_regulon(key, regulon):
        result = _comparison(config.compare_dir, key)
        if result is None or not regulon:
            return {}, [], "Select a regulon (click the volcano or the heatmap)."
        return regulon_outputs(config, result, regulon)

    @app.callback(
        Output("compare-download", "data"),
        *[Input({"type": "compare-export", "table": table}, "n_clicks") for table in TABLES],
        State("comparison", "data"),
        prevent_initial_call=True,
    )
    def export_table(*clicks_and_key):
        key = clicks_and_key[-1]
        table = (ctx.triggered_id or {}).get("table") if isinstance(ctx.triggered_id, dict) else None
        if table not in TABLES or _comparison(config.compare_dir, key) is None:  # names, never paths
            return no_update
        path = config.compare_dir / key / f"{table}.csv"
        return dcc.send_file(str(path)) if path.is_file() else no_update


def _columns(config: AppConfig, dataset: str | None) -> dict:
    if not dataset:
        return {}
    try:
        return category_columns(obs_table(gate_of(config).dataset(dataset)))
    except GridappError:
        return {}


def comparison_outputs(config: AppConfig, spec: CompareSpec, progress: Progress) -> str:
    """Run ``spec`` (unless stored already), store its tables under the comparison key and return the key."""
    key = compare_key(spec, config.cache)
    folder = config.compare_dir / key
    if not (folder / "compare.json").is_file():
        config.limits.check_subset(spec.union())
        with config.door.enter(tell=lambda note: progress(0, 1, note)) as job:
            result = run_compare(
                spec, config.cache, client=job.client, progress=progress, cancelled=job.cancelled, limits=job.limits
            )
        store_once(folder, lambda scratch: save_compare(result, spec, scratch))
    return key


def regulon_outputs(config: AppConfig, result: CompareResult, regulon: str) -> tuple:
    """The selected regulon's AUC on the embedding split by group, and its TF's rewired edges."""
    union = config.cache.load(result.keys["union"])
    adata = union.adata
    auc = adata.obsm["X_aucell"]
    if regulon not in auc.columns:
        return {}, [], f"{regulon} is not a regulon of the run on both groups."
    figure = split_embedding(
        adata.obsm["X_umap_aucell"], auc[regulon].rename(regulon), adata.obs[result.group_key], list(result.groups)
    )
    tf = regulon.split("(")[0]
    if result.rewiring is None:
        return figure, [], ""
    edges = result.rewiring.edges
    mine = edges[edges["TF"] == tf]
    counts = mine["status"].value_counts()
    info = f"{tf}: " + ", ".join(f"{counts.get(s, 0):,} {s}" for s in ("kept", "gained", "lost")) + " target edges"
    return figure, rewiring_elements(edges, focus=(tf,)), info


def _comparison(compare_dir: Path | None, key: str | None) -> CompareResult | None:
    """A stored comparison; ``None`` for a key that is not a stored comparison's (nothing outside compare_dir)."""
    if compare_dir is None or not is_key(key) or not (compare_dir / key / "compare.json").is_file():
        return None
    return _load(compare_dir / key)


@lru_cache(maxsize=8)
def _load(folder: Path) -> CompareResult:
    """A stored comparison, read once per process (stored comparisons never change: content-addressed)."""
    return load_compare(folder)
