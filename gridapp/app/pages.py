"""The dashboard's views: Explore (the linked views of one result), Compare and Benchmark."""

from __future__ import annotations

import dash_cytoscape as cyto
from dash import dash_table, dcc, html

from gridapp.app.network_panel import network_panel
from gridapp.app.widgets import choice, field, graph, panel
from gridapp.core.methods import METHODS, Method
from gridapp.figures.compare import REWIRING_STYLES
from gridapp.figures.network import STYLESHEET
from gridapp.jobs.bench import METRICS, SPLITS


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
            _explore_toolbar(),
            _network_row(priors),
            _regulon_row(),
            _enrichment_panel(),
            _activity_row(),
            _summary_row(),
            dcc.Store(id="result-key", data=result_key),
            dcc.Store(id="selected-cells"),
            dcc.Store(id="auc-overrides", data={}),
            dcc.Store(id="view"),
            dcc.Interval(id="first-result-watch", interval=3000, disabled=result_key is not None),
        ],
        className="views",
    )


def _explore_toolbar() -> html.Div:
    """The selected regulon and the exports of the result shown."""
    return html.Div(
        [
            field("Regulon / TF", dcc.Dropdown(id="regulon", placeholder="select a regulon")),
            html.Button("Export subnetwork CSV", id="export-edges"),
            html.Button("Regulons GMT", id="export-gmt"),
            html.Button("AUC CSV", id="export-auc"),
            html.Button("On/off CSV", id="export-binary"),
            dcc.Download(id="download"),
        ],
        className="row toolbar",
    )


def _network_row(priors: list[dict]) -> html.Div:
    """Edge importance (threshold, top targets, hops, occurrence, scoring against a prior) beside the network."""
    return html.Div(
        [
            panel(
                "Edge importance",
                graph("importance-hist"),
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
                        field(
                            "Top targets per TF",
                            dcc.Input(id="top-n", type="number", min=1, step=1, placeholder="all"),
                        ),
                        field("Hops", dcc.RadioItems(id="hops", options=[1, 2], value=1, inline=True)),
                        field(
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
                field(
                    "Score against a prior (precision on the histogram, known edges green)",
                    dcc.Dropdown(id="score-prior", options=priors, placeholder="choose a prior network"),
                ),
                html.Div(id="prior-score", className="count"),
            ),
            panel("Network", *network_panel("network"), html.Div(id="network-info", className="count")),
        ],
        className="grid",
    )


def _regulon_row() -> html.Div:
    """The selected regulon's targets beside the gene lookup."""
    return html.Div(
        [
            panel(
                "Regulon",
                html.Div(id="regulon-summary", className="count"),
                dash_table.DataTable(
                    id="regulon-targets",
                    sort_action="native",
                    page_size=8,
                    style_table={"overflowX": "auto"},
                ),
            ),
            panel(
                "Gene lookup",
                field(
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
    )


def _enrichment_panel() -> html.Div:
    """The prior-enrichment table of a signed method's run (hidden otherwise)."""
    return html.Div(
        panel(
            "TFs whose links are enriched in the prior (Fisher's exact test, BH; kept TFs make the regulons)",
            dash_table.DataTable(
                id="enrichment-table", sort_action="native", page_size=10, style_table={"overflowX": "auto"}
            ),
        ),
        id="enrichment-panel",
        hidden=True,
    )


def _activity_row() -> html.Div:
    """The regulon-activity embedding beside the AUC distribution."""
    return html.Div(
        [
            panel(
                "Regulon activity embedding",
                html.Div(
                    [
                        choice(
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
                graph("embedding"),
            ),
            panel("AUC distribution (click to move this regulon's on/off threshold)", graph("auc-dist")),
        ],
        className="grid",
    )


def _summary_row() -> html.Div:
    """The cell type × regulon clustermap beside the TF-expression heatmap."""
    return html.Div(
        [
            panel(
                "Cell type × regulon",
                choice("summary-kind", {"mean_auc_z": "mean AUC (z)", "rss": "RSS"}, "mean_auc_z"),
                graph("clustermap"),
            ),
            panel(
                "TF expression",
                dcc.Checklist(id="tf-dots", options=[{"label": "dot plot", "value": "dots"}], value=[]),
                graph("tf-heatmap"),
            ),
        ],
        className="grid",
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
            panel(
                "Compare two groups (data, cells, inference and pruning as chosen on the left)",
                html.Div(
                    [
                        field(
                            "Group column",
                            dcc.Dropdown(id="group-key", placeholder="choose a column", style={"minWidth": "180px"}),
                        ),
                        field(
                            "Group a", dcc.Dropdown(id="group-a", placeholder="group a", style={"minWidth": "160px"})
                        ),
                        field(
                            "Group b", dcc.Dropdown(id="group-b", placeholder="group b", style={"minWidth": "160px"})
                        ),
                        field(
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
                    panel(
                        "Differential activity (click a regulon to select it in every view)",
                        field(
                            "Cell type",
                            dcc.Dropdown(id="compare-celltype", clearable=False, placeholder="choose a cell type"),
                        ),
                        graph("volcano"),
                    ),
                    panel("Cell type × regulon", graph("delta-heatmap")),
                    panel("Selected regulon's activity by group", graph("split-embedding")),
                    panel(
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
            panel(
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
            _bench_choices(dataset_ids),
            html.Progress(id="bench-progress", value="0", max="1"),
            html.Div(id="bench-status", className="status"),
            _bench_results(),
            dcc.Store(id="bench-key"),
        ],
        className="views",
    )


def _bench_choices(dataset_ids: list[str]) -> html.Div:
    """Methods, BEELINE sets, pairs scored and seeds; run and cancel."""
    return html.Div(
        [
            field(
                "Methods",
                dcc.Checklist(
                    id="bench-methods",
                    options=[{"label": _method_label(m), "value": m.id} for m in METHODS.values()],
                    value=[m for m in BENCH_DEFAULT_METHODS if m in METHODS],
                ),
            ),
            html.Div(
                [
                    field(
                        "Sets",
                        dcc.Dropdown(
                            id="bench-datasets",
                            options=dataset_ids,
                            value=dataset_ids[:1],
                            multi=True,
                            style={"minWidth": "360px"},
                        ),
                    ),
                    field("Pairs scored", choice("bench-split", {s: s for s in SPLITS}, "full")),
                    field("Seeds", dcc.Input(id="bench-seeds", type="number", value=1, min=1, max=10, step=1)),
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
    )


def _bench_results() -> html.Div:
    """The method × set score table (metric, export) beside the curves of one set."""
    return html.Div(
        [
            panel(
                "Scores (mean over seeds)",
                html.Div(
                    [
                        field(
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
            panel(
                "ROC and precision–recall curves",
                dcc.Dropdown(id="bench-curves-set", clearable=False, placeholder="choose a BEELINE set"),
                graph("bench-curves"),
            ),
        ],
        className="grid",
    )
