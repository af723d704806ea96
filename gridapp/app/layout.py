"""The dashboard's layout: a control column (data, subset, run) and the linked views."""

from __future__ import annotations

import dash_cytoscape as cyto
from dash import dash_table, dcc, html

from gridapp.app.network_panel import network_panel
from gridapp.core.methods import DEFAULT_METHOD, METHODS, Method
from gridapp.figures.compare import REWIRING_STYLES
from gridapp.figures.network import STYLESHEET
from gridapp.jobs.bench import METRICS, SPLITS
from gridapp.jobs.pipeline import STEPS


def _field(label: str, control) -> html.Div:
    """A labelled control; the label names a text / number input for screen readers too (``htmlFor``)."""
    named = isinstance(control, dcc.Input) and isinstance(getattr(control, "id", None), str)
    return html.Div([html.Label(label, htmlFor=control.id if named else None), control], className="field")


def _choice(component_id: str, options: dict[str, str], value: str) -> dcc.RadioItems:
    """Inline radio buttons from {value: label}."""
    return dcc.RadioItems(
        id=component_id,
        inline=True,
        value=value,
        options=[{"label": label, "value": v} for v, label in options.items()],
    )


def _graph(component_id: str) -> dcc.Graph:
    return dcc.Graph(id=component_id, config={"displaylogo": False})


def _panel(title: str, *children) -> html.Section:
    return html.Section([html.H3(title), *children], className="panel")


def controls(
    datasets: list[dict],
    tf_lists: list[dict],
    priors: list[dict],
    motif_files: list[dict],
    runs: list[dict],
    outputs: list[dict],
    max_upload_mb: int = 500,
) -> html.Aside:
    """The left column: dataset, subset, method and pruning choices, launch / cancel, cached runs and
    pySCENIC outputs to open (an upload over ``max_upload_mb`` is refused by the browser)."""
    return html.Aside(
        [
            html.P(
                "1. Choose the data and cells · 2. Launch · 3. Explore the regulons on the right.", className="steps"
            ),
            html.H2("Data"),
            _field(
                "Dataset",
                dcc.Dropdown(
                    id="dataset", options=datasets, value=datasets[0]["value"] if datasets else None, clearable=False
                ),
            ),
            dcc.Upload(
                id="upload",
                children=html.Div(
                    ["Drop or ", html.A("choose"), f" an .h5ad / .loom file (at most {max_upload_mb:,} MB)"],
                    **{"data-max-bytes": str(max_upload_mb * 2**20)},  # assets/gridapp.js says why a larger one fails
                ),
                className="upload",
                max_size=max_upload_mb * 2**20,
            ),
            _field("Donor column", dcc.Dropdown(id="donor-key", placeholder="choose a donor column")),
            _field("Donors", dcc.Dropdown(id="donors", multi=True, placeholder="all donors")),
            _field("Cell-type column", dcc.Dropdown(id="celltype-key", placeholder="choose a cell-type column")),
            _field("Cell types", dcc.Dropdown(id="cell-types", multi=True, placeholder="all cell types")),
            html.Div(id="cell-count", className="count"),
            _field(
                "TF list",
                dcc.Dropdown(
                    id="tfs", options=tf_lists, value=tf_lists[0]["value"] if tf_lists else None, clearable=False
                ),
            ),
            html.H2("Inference"),
            _field(
                "Method",
                dcc.Dropdown(
                    id="method",
                    options=[{"label": m.name, "value": m.id} for m in METHODS.values()],
                    value=DEFAULT_METHOD,
                    clearable=False,
                ),
            ),
            html.Div(
                [
                    _field("Target layer (new / unspliced RNA)", dcc.Dropdown(id="target-layer", placeholder="X")),
                    _field("TF layer (total / spliced RNA)", dcc.Dropdown(id="tf-layer", placeholder="X")),
                    _field(
                        "Enrichment FDR (TFs kept by the prior)",
                        dcc.Input(id="fdr", type="number", value=0.05, min=0.001, max=1, step=0.001),
                    ),
                ],
                id="layer-fields",
                hidden=True,
            ),
            html.Div(
                _field(
                    "Training prior (links the model learns from)",
                    dcc.Dropdown(id="train-prior", options=priors, value=priors[0]["value"] if priors else None),
                ),
                id="train-fields",
                hidden=True,
            ),
            html.Div(
                [
                    _field("Seed", dcc.Input(id="seed", type="number", value=0, min=0, step=1)),
                    _field("Runs", dcc.Input(id="runs-count", type="number", value=1, min=1, max=100, step=1)),
                    _field(
                        "Min occurrence",
                        dcc.Input(id="min-occurrence", type="number", value=0.8, min=0.05, max=1, step=0.05),
                    ),
                    _field("Top genes", dcc.Input(id="n-top-genes", type="number", value=3000, min=50, step=1)),
                    _field(
                        "AUC threshold",
                        dcc.Input(id="auc-threshold", type="number", min=0.001, max=1, step=0.001, placeholder="auto"),
                    ),
                ],
                className="row",
            ),
            dcc.Graph(id="genes-detected", config={"displayModeBar": False}),
            _field(
                "Pruning",
                dcc.RadioItems(
                    id="prune",
                    value="prior",
                    inline=True,
                    options=[
                        {"label": "prior", "value": "prior"},
                        {"label": "cisTarget", "value": "cistarget"},
                        {"label": "none", "value": "none"},
                    ],
                ),
            ),
            html.Div(
                [
                    _field(
                        "Prior network",
                        dcc.Dropdown(id="prior", options=priors, value=priors[0]["value"] if priors else None),
                    ),
                    _field(
                        "DoRothEA confidence",
                        dcc.Checklist(id="prior-confidence", options=list("ABCDE"), value=[], inline=True),
                    ),
                ],
                id="prior-fields",
            ),
            html.Div(
                [
                    _field("Ranking databases", dcc.Dropdown(id="motif-dbs", options=motif_files, multi=True)),
                    _field(
                        "Motif annotations",
                        dcc.Dropdown(id="motif-annotations", options=motif_files, placeholder="choose a motif table"),
                    ),
                ],
                id="motif-fields",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Button("Launch", id="launch", className="primary"),
                            html.Button("Cancel", id="cancel", disabled=True),
                        ],
                        className="row",
                    ),
                    html.Progress(id="progress", value="0", max=str(len(STEPS)), **{"aria-label": "run progress"}),
                    html.Div(id="status", className="status", role="status"),
                ],
                className="launchbar",
            ),
            dcc.Store(id="launched"),
            dcc.Store(id="job-key"),
            dcc.Interval(id="job-watch", interval=2000, disabled=True),
            html.H2("Results"),
            _field("Cached runs", dcc.Dropdown(id="runs", options=runs, placeholder="open a cached run")),
            _field(
                "pySCENIC output (no recomputation)",
                dcc.Dropdown(id="pyscenic-folder", options=outputs, placeholder="folder with adj + loom or auc"),
            ),
            _field(
                "Its expression (optional: genes and cell types)",
                dcc.Dropdown(id="pyscenic-expression", options=datasets, placeholder="the dataset AUCell scored"),
            ),
            html.Button("Open output", id="open-output"),
        ],
        className="controls",
    )


def views(priors: list[dict], result_key: str | None = None) -> html.Main:
    """The linked views of one result (``priors``: networks a user may score it against); the page opens
    on ``result_key`` (the most recent result) when there is one."""
    return html.Main(
        id="explore-views",
        children=[
            html.Div(id="result-info", className="guide"),
            html.Div(id="message", className="message", role="alert"),
            html.Div(id="form-note", className="note", role="status"),
            html.Div(id="view-note", className="note", role="status"),
            html.Div(
                [
                    _field("Regulon / TF", dcc.Dropdown(id="regulon", placeholder="select a regulon")),
                    html.Button("Export subnetwork CSV", id="export-edges"),
                    html.Button("Regulons GMT", id="export-gmt"),
                    html.Button("AUC CSV", id="export-auc"),
                    html.Button("On/off CSV", id="export-binary"),
                    dcc.Download(id="download"),
                ],
                className="row toolbar",
            ),
            html.Div(
                [
                    _panel(
                        "Edge importance",
                        _graph("importance-hist"),
                        html.Label(
                            "Importance threshold (log scale; click a bar to keep it and all stronger)",
                            htmlFor="threshold",
                        ),
                        dcc.Slider(
                            id="threshold",
                            min=-3,
                            max=3,
                            step=0.01,
                            value=0,
                            marks=None,
                            allow_direct_input=False,
                            tooltip={"placement": "bottom", "transform": "importanceOfLog"},
                        ),
                        html.Div(
                            [
                                _field(
                                    "Top targets per TF",
                                    dcc.Input(id="top-n", type="number", min=1, step=1, placeholder="all"),
                                ),
                                _field("Hops", dcc.RadioItems(id="hops", options=[1, 2], value=1, inline=True)),
                                _field(
                                    "Found in ≥ this share of runs",
                                    dcc.Slider(
                                        id="occurrence",
                                        min=0,
                                        max=1,
                                        step=0.05,
                                        value=0,
                                        marks={0: "0", 0.5: "0.5", 1: "1"},
                                        disabled=True,
                                    ),
                                ),
                            ],
                            className="row",
                        ),
                        html.Div(id="edge-count", className="count"),
                        _field(
                            "Score against a prior (precision on the histogram, known edges green)",
                            dcc.Dropdown(id="score-prior", options=priors, placeholder="choose a prior network"),
                        ),
                        html.Div(id="prior-score", className="count"),
                    ),
                    _panel("Network", *network_panel("network"), html.Div(id="network-info", className="count")),
                ],
                className="grid",
            ),
            html.Div(
                [
                    _panel(
                        "Regulon",
                        html.Div(id="regulon-summary", className="count"),
                        dash_table.DataTable(
                            id="regulon-targets",
                            sort_action="native",
                            page_size=8,
                            style_table={"overflowX": "auto"},
                        ),
                    ),
                    _panel(
                        "Gene lookup",
                        _field(
                            "Gene (the regulons that contain it, the TFs upstream)",
                            dcc.Input(id="gene-search", type="text", debounce=True, placeholder="e.g. CD74"),
                        ),
                        html.Div(id="gene-info", className="count"),
                        dash_table.DataTable(
                            id="gene-table", sort_action="native", page_size=8, style_table={"overflowX": "auto"}
                        ),
                    ),
                ],
                className="grid",
            ),
            html.Div(
                _panel(
                    "TFs whose links are enriched in the prior (Fisher's exact test, BH; kept TFs make the regulons)",
                    dash_table.DataTable(
                        id="enrichment-table", sort_action="native", page_size=10, style_table={"overflowX": "auto"}
                    ),
                ),
                id="enrichment-panel",
                hidden=True,
            ),
            html.Div(
                [
                    _panel(
                        "Regulon activity embedding",
                        html.Div(
                            [
                                _choice(
                                    "embedding-kind",
                                    {"X_umap_aucell": "UMAP", "X_tsne_aucell": "tSNE"},
                                    "X_umap_aucell",
                                ),
                                dcc.Dropdown(
                                    id="colour-by",
                                    clearable=False,
                                    placeholder="colour cells by",
                                    style={"minWidth": "220px"},
                                ),
                            ],
                            className="row",
                        ),
                        _graph("embedding"),
                    ),
                    _panel("AUC distribution (click to move this regulon's on/off threshold)", _graph("auc-dist")),
                ],
                className="grid",
            ),
            html.Div(
                [
                    _panel(
                        "Cell type × regulon",
                        _choice("summary-kind", {"mean_auc_z": "mean AUC (z)", "rss": "RSS"}, "mean_auc_z"),
                        _graph("clustermap"),
                    ),
                    _panel(
                        "TF expression",
                        dcc.Checklist(id="tf-dots", options=[{"label": "dot plot", "value": "dots"}], value=[]),
                        _graph("tf-heatmap"),
                    ),
                ],
                className="grid",
            ),
            dcc.Store(id="result-key", data=result_key),
            dcc.Store(id="selected-cells"),
            dcc.Store(id="auc-overrides", data={}),
            dcc.Store(id="view"),
            dcc.Interval(id="first-result-watch", interval=3000, disabled=result_key is not None),
        ],
        className="views",
    )


def compare_views() -> html.Main:
    """Two groups of the chosen subset compared: launch, volcano, delta heatmap, split embedding, rewired
    network, tables. The data, subset, inference and pruning come from the control column."""
    return html.Main(
        id="compare-views",
        hidden=True,
        className="views",
        children=[
            html.Div(id="compare-message", className="message", role="alert"),
            _panel(
                "Compare two groups (data, cells, inference and pruning as chosen on the left)",
                html.Div(
                    [
                        _field(
                            "Group column",
                            dcc.Dropdown(id="group-key", placeholder="choose a column", style={"minWidth": "180px"}),
                        ),
                        _field(
                            "Group a", dcc.Dropdown(id="group-a", placeholder="group a", style={"minWidth": "160px"})
                        ),
                        _field(
                            "Group b", dcc.Dropdown(id="group-b", placeholder="group b", style={"minWidth": "160px"})
                        ),
                        _field(
                            "Rewiring: top edges per group",
                            dcc.Input(id="compare-top", type="number", value=5000, min=100, step=100),
                        ),
                        dcc.Checklist(
                            id="compare-reproducibility",
                            options=[{"label": " reproducibility across donors (a run per donor)", "value": "on"}],
                            value=[],
                        ),
                        html.Button("Compare", id="compare-run", className="primary"),
                        html.Button("Cancel", id="compare-cancel", disabled=True),
                    ],
                    className="row",
                ),
                html.Progress(id="compare-progress", value="0", max="1"),
                html.Div(id="compare-status", className="status"),
            ),
            html.Div(
                [
                    _panel(
                        "Differential activity (click a regulon to select it in every view)",
                        _field(
                            "Cell type",
                            dcc.Dropdown(id="compare-celltype", clearable=False, placeholder="choose a cell type"),
                        ),
                        _graph("volcano"),
                    ),
                    _panel("Cell type × regulon", _graph("delta-heatmap")),
                    _panel("Selected regulon's activity by group", _graph("split-embedding")),
                    _panel(
                        "Rewired network of the selected TF (red: gained in b, dashed blue: lost)",
                        cyto.Cytoscape(
                            id="rewiring-network",
                            layout={"name": "preset"},
                            stylesheet=STYLESHEET + REWIRING_STYLES,
                            style={"height": "420px", "width": "100%"},
                            elements=[],
                        ),
                        html.Div(id="rewiring-info", className="count"),
                    ),
                ],
                className="grid",
            ),
            _panel(
                "Tables",
                html.Div(
                    [html.Button(label, id={"type": "compare-export", "table": name}) for name, label in EXPORTS]
                    + [dcc.Download(id="compare-download")],
                    className="row",
                ),
                dash_table.DataTable(
                    id="reproducibility-table", sort_action="native", page_size=15, style_table={"overflowX": "auto"}
                ),
            ),
            dcc.Store(id="comparison"),
        ],
    )


#: the comparison tables a user can download: (file stem, button label)
EXPORTS = (
    ("differential", "Differential CSV"),
    ("rewiring_edges", "Rewired edges CSV"),
    ("rewiring_tfs", "Per-TF rewiring CSV"),
    ("rewiring_regulons", "Regulons per group CSV"),
    ("reproducibility", "Reproducibility CSV"),
)


#: what the Benchmark page selects by default: the fast engine and the three pairwise baselines
BENCH_DEFAULT_METHODS = ("grnboost2-fast", "pearson", "spearman", "mi")


def _method_label(method: Method) -> str:
    trained = " (trained on the split's pairs: choose test or tf-aware)" if method.supervised else ""
    return f"{method.name} [{method.id}]{trained}"


def benchmark_page(dataset_ids: list[str], note: str = "") -> html.Main:
    """Score methods on BEELINE sets in the background: choices, progress, a method × set table, curves.

    ``note`` explains why no set is offered (BEELINE data missing).
    """

    return html.Main(
        [
            html.H2("Benchmark on BEELINE (Pratapa et al. 2020)"),
            html.Div(note, className="message", role="alert"),
            html.Div(
                [
                    _field(
                        "Methods",
                        dcc.Checklist(
                            id="bench-methods",
                            options=[{"label": _method_label(m), "value": m.id} for m in METHODS.values()],
                            value=[m for m in BENCH_DEFAULT_METHODS if m in METHODS],
                        ),
                    ),
                    html.Div(
                        [
                            _field(
                                "Sets",
                                dcc.Dropdown(
                                    id="bench-datasets",
                                    options=dataset_ids,
                                    value=dataset_ids[:1],
                                    multi=True,
                                    style={"minWidth": "360px"},
                                ),
                            ),
                            _field("Pairs scored", _choice("bench-split", {s: s for s in SPLITS}, "full")),
                            _field("Seeds", dcc.Input(id="bench-seeds", type="number", value=1, min=1, max=10, step=1)),
                            html.Div(
                                [
                                    html.Button("Run benchmark", id="bench-run", className="primary"),
                                    html.Button("Cancel", id="bench-cancel", disabled=True),
                                ],
                                className="row",
                            ),
                        ]
                    ),
                ],
                className="row panel",
            ),
            html.Progress(id="bench-progress", value="0", max="1"),
            html.Div(id="bench-status", className="status"),
            html.Div(
                [
                    _panel(
                        "Scores (mean over seeds)",
                        html.Div(
                            [
                                _field(
                                    "Metric",
                                    dcc.Dropdown(
                                        id="bench-metric",
                                        options=list(METRICS),
                                        value="auprc_ratio",
                                        clearable=False,
                                        style={"minWidth": "220px"},
                                    ),
                                ),
                                html.Button("Scores CSV", id="bench-export"),
                                dcc.Download(id="bench-download"),
                            ],
                            className="row",
                        ),
                        dash_table.DataTable(id="bench-table", sort_action="native", style_table={"overflowX": "auto"}),
                    ),
                    _panel(
                        "ROC and precision–recall curves",
                        dcc.Dropdown(id="bench-curves-set", clearable=False, placeholder="choose a BEELINE set"),
                        _graph("bench-curves"),
                    ),
                ],
                className="grid",
            ),
            dcc.Store(id="bench-key"),
        ],
        className="views",
    )
