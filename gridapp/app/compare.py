"""Callbacks of the Compare view: choose two groups, compare them in the background, explore the tables.

The comparison's run on both groups becomes the Explore page's current result, so a regulon clicked
on the volcano is selected in every linked view of both pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from gridapp.app.config import AppConfig, gate_of
from gridapp.app.form import FORM_FIELDS, params_from_form
from gridapp.app.pages import EXPORTS
from gridapp.app.runs import QUEUED, background_job, say_on_click
from gridapp.app.words import in_page_words, run_options, table_payload
from gridapp.core.atomic import store_folder_once
from gridapp.core.errors import GridappError
from gridapp.figures.base import placeholder
from gridapp.figures.compare import EMPTY, delta_heatmap, rewiring_elements, split_embedding, volcano
from gridapp.jobs.cache import is_key
from gridapp.jobs.compare import (
    DEFAULT_TOP_EDGES,
    TABLES,
    CompareResult,
    CompareSpec,
    IncompleteComparisonError,
    Missing,
    compare_key,
    load_compare,
    run_compare,
    save_compare,
)
from gridapp.jobs.datasets import category_columns, count_cells, obs_table
from gridapp.jobs.pipeline import Progress
from gridapp.jobs.runner import status_line, ticking

GROUP_HINTS = ("group", "condition", "stim", "treatment", "status")
#: the page's words for the choices a comparison's tables come from
CHOOSE_GROUPS = "Choose a group column and two of its values above"
TICK_REPRODUCIBILITY = "Tick 'reproducibility across donors'"
#: what to choose when a comparison lacks a choice, in the page's words (the CLI has its own)
PAGE_HINTS = {
    Missing.GROUPS: "Choose two different values of the group column as Group a and Group b above.",
    Missing.GROUP_KEY: "Choose a group column above.",
    Missing.DONOR_KEY: "Choose a donor column on the left, or untick 'reproducibility across donors'.",
    Missing.ANYTHING: f"{CHOOSE_GROUPS}, or {TICK_REPRODUCIBILITY.lower()} (with a donor column chosen on the left).",
}
#: the choice that gives a comparison each of its tables
TABLE_CHOICES = dict.fromkeys(TABLES, CHOOSE_GROUPS) | {"reproducibility": TICK_REPRODUCIBILITY}
#: ``set_progress`` of the Compare job: (bar value, bar max, status line)
SetProgress = Callable[[tuple[str, str, str]], object]


def register(app: Dash, config: AppConfig) -> None:
    """Attach the Compare view's callbacks to ``app``."""
    _register_form(app, config)
    _register_views(app, config)


def _register_form(app: Dash, config: AppConfig) -> None:
    """The comparison's groups, its launch (a background job) and cancel, and the run on both groups opened."""

    @app.callback(Output("group-key", "options"), Output("group-key", "value"), Input("input", "value"))
    def choose_group_column(dataset):
        columns = category_columns(_obs(config, dataset))
        return list(columns), next((c for h in GROUP_HINTS for c in columns if h in c.lower()), None)

    @app.callback(
        Output("group-a", "options"),
        Output("group-a", "value"),
        Output("group-b", "options"),
        Output("group-b", "value"),
        Input("group-key", "value"),
        Input("donors", "value"),
        Input("cell-types", "value"),
        State("donor-key", "value"),
        State("cell-type-key", "value"),
        State("input", "value"),
        State("group-a", "value"),
        State("group-b", "value"),
    )
    def choose_groups(column, donors, cell_types, donor_key, celltype_key, dataset, group_a, group_b):
        subset = [(donor_key, donors or []), (celltype_key, cell_types or [])]
        options, a, b = group_choices(_obs(config, dataset), column, subset, (group_a, group_b))
        return options, a, options, b

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
        return comparison_job(config, form, values[len(FORM_FIELDS) :], set_progress)

    say_on_click(app, "compare-run", "compare-status", "compare-progress", QUEUED)
    say_on_click(
        app,
        "compare-cancel",
        "compare-status",
        "compare-progress",
        "Cancelled: runs finished so far stay cached; earlier comparisons are unchanged.",
    )

    @app.callback(
        Output("result-key", "data", allow_duplicate=True),
        Output("cached-runs", "options", allow_duplicate=True),
        Output("compare-message", "children", allow_duplicate=True),
        Input("comparison", "data"),
        prevent_initial_call=True,
    )
    def open_union_run(key):
        result = _comparison(config.compare_dir, key)
        if result is None:
            raise PreventUpdate
        return result.keys["union"], run_options(config), ""  # a note on the previous comparison's tables goes


def _register_views(app: Dash, config: AppConfig) -> None:
    """The comparison's tables and figures, a regulon chosen on the volcano or heatmap, and table exports."""

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
        if result is None:
            return [], None, placeholder(EMPTY["delta_heatmap"]), [], []
        rows, columns = table_payload(result.reproducibility)
        if result.differential is None:  # donors only
            return [], None, placeholder(EMPTY["delta_heatmap"]), rows, columns
        types = sorted(result.differential["cell_type"].unique())
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
            return placeholder(EMPTY["volcano"])
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
            return placeholder(EMPTY["split_embedding"]), [], "Select a regulon (click the volcano or the heatmap)."
        return regulon_outputs(config, result, regulon)

    @app.callback(
        Output("compare-download", "data"),
        Output("compare-message", "children"),
        *[Input({"type": "compare-export", "table": table}, "n_clicks") for table in TABLES],
        State("comparison", "data"),
        prevent_initial_call=True,
    )
    def export_table(*clicks_and_key):
        table = ctx.triggered_id.get("table") if isinstance(ctx.triggered_id, dict) else None
        try:
            path = table_file(config.compare_dir, clicks_and_key[-1], table)
        except GridappError as err:
            return no_update, str(err)
        return dcc.send_file(str(path)), ""


def _obs(config: AppConfig, dataset: str | None) -> pd.DataFrame:
    """The cell annotations of ``dataset``; an empty table when none is chosen or it cannot be read."""
    if not dataset:
        return pd.DataFrame()
    try:
        return obs_table(gate_of(config).dataset(dataset))
    except GridappError:
        return pd.DataFrame()


def group_choices(
    obs: pd.DataFrame,
    column: str | None,
    subset: Sequence[tuple[str | None, Sequence[str]]],
    chosen: Sequence[str | None],
) -> tuple[list[dict], str | None, str | None]:
    """The Group a / Group b options: each value of ``column`` with its cells in the control column's subset.

    Parameters
    ----------
    obs
        The dataset's cell annotations.
    column
        The group column (no options without it).
    subset
        The control column's (column, values) selections (donors, cell types), as
        :func:`~gridapp.jobs.datasets.count_cells` takes them.
    chosen
        The groups chosen now (a, b): each is kept while it has cells in the subset, else replaced by
        the first value with cells that is not chosen already.

    Returns
    -------
    ``(options, a, b)``.
    """
    if not column or column not in obs:
        return [], None, None
    counts = {value: count_cells(cells, subset) for value, cells in obs.groupby(obs[column].astype(str))}
    with_cells = [value for value, n in counts.items() if n]
    kept = [value if value in with_cells else None for value in chosen]
    spare = iter([value for value in with_cells if value not in kept])
    a, b = (value if value is not None else next(spare, None) for value in kept)
    return [{"label": f"{value} ({n:,} cells)", "value": value} for value, n in counts.items()], a, b


def comparison_spec(
    config: AppConfig, form: dict, group_key: str | None, groups: Sequence[str | None], top_edges, reproducibility
) -> CompareSpec:
    """The comparison the Compare button asks for: the control column's run (``form``, keyed by component id)
    and the page's choices; refused in the page's words when a choice is missing."""
    try:
        return CompareSpec(
            base=params_from_form(config, form).with_changes(donor_key=form.get("donor-key")),
            group_key=group_key,
            groups=tuple(g for g in groups if g),
            reproducibility=bool(reproducibility),
            top_edges=int(top_edges or DEFAULT_TOP_EDGES),
        )
    except IncompleteComparisonError as err:
        raise err.worded(PAGE_HINTS) from err


def comparison_job(config: AppConfig, form: dict, choices: Sequence, set_progress: SetProgress) -> tuple:
    """The Compare button's background job.

    Parameters
    ----------
    config
        The dashboard's configuration.
    form
        The control column's values, keyed by component id.
    choices
        The page's group column, group a, group b, top edges and reproducibility tick.
    set_progress
        Shows (bar value, bar max, status line); told at once, then while the job waits and per run.

    Returns
    -------
    The comparison's key (``no_update`` when it failed) and the status line.
    """
    group_key, group_a, group_b, top_edges, reproducibility = choices
    try:
        key = comparison_outputs(
            config,
            comparison_spec(config, form, group_key, (group_a, group_b), top_edges, reproducibility),
            lambda done, total, label: set_progress((str(done), str(total), f"{done}/{total} runs: {label} …")),
            tell=lambda note: set_progress(("0", "1", status_line(note))),
        )
    except GridappError as err:
        return no_update, f"Comparison failed: {in_page_words(err)}"
    return key, "Done: the run on both groups is also open on the Explore page."


def comparison_outputs(
    config: AppConfig, spec: CompareSpec, progress: Progress, tell: Callable[[str], object] = lambda note: None
) -> str:
    """Run ``spec`` (unless stored already), store its tables under the comparison key and return the key.

    ``tell`` hears what the job is doing before its runs start (preparing, waiting for a slot, starting
    workers), at once and then every second; ``progress`` hears each run.
    """
    with ticking(tell) as ticker:
        ticker.say("preparing the comparison")
        key = compare_key(spec, config.cache)
        folder = config.compare_dir / key
        stored = (folder / "compare.json").is_file()
        if not stored:
            config.limits.check_subset(spec.union())
    if not stored:
        with config.door.enter(tell=tell) as job:
            result = run_compare(
                spec, config.cache, client=job.client, progress=progress, cancelled=job.cancelled, limits=job.limits
            )
        store_folder_once(folder, lambda scratch: save_compare(result, spec, scratch))
    return key


def table_file(compare_dir: Path | None, key: str | None, table: object) -> Path:
    """The CSV of ``table`` (one of :data:`~gridapp.jobs.compare.TABLES`) of the stored comparison ``key``;
    :class:`GridappError`, in the page's words, saying why there is none."""
    if table not in TABLES:  # names, never paths
        raise GridappError("Choose a table with one of the buttons below.", "Reload the page if they changed.")
    if _comparison(compare_dir, key) is None:
        raise GridappError("There is no comparison yet.", "Compare first, then download its tables.")
    path = compare_dir / key / f"{table}.csv"
    if not path.is_file():
        raise GridappError(
            f"{dict(EXPORTS)[table]}: this comparison has no such table.",
            f"{TABLE_CHOICES[table]} and compare again to get this table.",
        )
    return path


def regulon_outputs(config: AppConfig, result: CompareResult, regulon: str) -> tuple:
    """The selected regulon's AUC on the embedding split by group, and its TF's rewired edges."""
    if result.group_key is None:
        words = "This comparison compared donors only: there are no groups to show the regulon by."
        return placeholder(words), [], words
    union = config.cache.load(result.keys["union"])
    adata = union.adata
    auc = adata.obsm["X_aucell"]
    if regulon not in auc.columns:
        words = f"{regulon} is not a regulon of the run on both groups."
        return placeholder(words), [], words
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
