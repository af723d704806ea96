"""Figure factories and edge selection, tested as data on small known results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridapp.core.metrics import candidate_scores, precision_at, precision_by_threshold
from gridapp.core.network import annotate_edges, edges_above, focus_edges, select_edges
from gridapp.figures.auc import auc_distribution
from gridapp.figures.benchmark import curves_figure
from gridapp.figures.clustermap import clicked_cell, clustermap
from gridapp.figures.compare import delta_heatmap, rewiring_elements, split_embedding, volcano
from gridapp.figures.embedding import embedding_scatter
from gridapp.figures.heatmap import tf_expression
from gridapp.figures.importance import importance_bins, importance_histogram
from gridapp.figures.network import network_elements

ADJACENCIES = pd.DataFrame(
    {
        "TF": ["SPI1", "SPI1", "CEBPB", "SPI1", "TCF7", "CEBPB", "TCF7"],
        "target": ["LYZ", "CD14", "LYZ", "CEBPB", "CD3E", "S100A8", "LEF1"],
        "importance": [50.0, 20.0, 10.0, 5.0, 2.0, 1.0, 0.5],
    }
)
REGULONS = pd.DataFrame(
    {"regulon": ["SPI1(+)", "SPI1(+)"], "TF": ["SPI1", "SPI1"], "target": ["LYZ", "CD14"], "weight": [50.0, 20.0]}
)


def test_threshold_keeps_the_strong_prefix_and_top_n_per_tf():
    assert list(edges_above(ADJACENCIES, 5.0)["importance"]) == [50.0, 20.0, 10.0, 5.0]
    consensus = ADJACENCIES.assign(occurrence=np.linspace(1.0, 0.4, len(ADJACENCIES)))
    recurring = edges_above(consensus, 0.1, min_occurrence=0.8)
    assert len(recurring) > 0 and (recurring["occurrence"] >= 0.8).all() and len(recurring) < len(consensus)
    assert edges_above(ADJACENCIES, 100.0).empty and len(edges_above(ADJACENCIES, 0.1)) == 7
    top1 = edges_above(ADJACENCIES, 0.1, top_n_per_tf=1)
    assert list(zip(top1["TF"], top1["target"])) == [("SPI1", "LYZ"), ("CEBPB", "LYZ"), ("TCF7", "CD3E")]


def test_focus_follows_hops_in_both_directions():
    one = focus_edges(ADJACENCIES, ["SPI1"], hops=1)
    assert set(one["target"]) == {"LYZ", "CD14", "CEBPB"}
    two = focus_edges(ADJACENCIES, ["SPI1"], hops=2)
    assert {"S100A8"} <= set(two["target"]) and ("CEBPB", "LYZ") in set(zip(two["TF"], two["target"]))
    assert "TCF7" not in set(two["TF"])


def test_selection_caps_and_counts_what_it_leaves_out():
    selection = select_edges(ADJACENCIES, 1.0, max_edges=3)
    assert len(selection.edges) == 3 and selection.n_above_threshold == 6 and selection.n_left_out == 3


def test_annotation_marks_regulon_and_prior_membership():
    annotated = annotate_edges(ADJACENCIES.head(3), REGULONS, {("CEBPB", "LYZ")})
    assert list(annotated["regulon"]) == ["SPI1(+)", "SPI1(+)", ""]
    assert list(annotated["in_prior"]) == [False, False, True]


def test_importance_histogram_colours_kept_bins_and_titles_the_count():
    importance = np.logspace(-2, 2, 1000)
    edges, counts = importance_bins(importance, bins=40)
    assert counts.sum() == 1000 and np.isclose(edges[0], -2) and np.isclose(edges[-1], 2)
    figure = importance_histogram(edges, counts, 1.0, n_kept=500)
    bar = figure.data[0]
    kept = np.array(bar.marker.color) == "#1f77b4"
    assert kept.sum() == 20 and (np.asarray(bar.x)[kept] >= 0).all()
    assert "500 edges" in figure.layout.title.text and figure.layout.shapes[0].x0 == 0


def test_network_elements_style_tfs_and_place_every_node():
    edges = annotate_edges(ADJACENCIES.head(4), REGULONS, {("SPI1", "CD14")})
    elements = network_elements(edges, focus=("SPI1",))
    nodes = [e for e in elements if "source" not in e["data"]]
    links = [e for e in elements if "source" in e["data"]]
    assert {n["data"]["id"] for n in nodes} == {"SPI1", "CEBPB", "LYZ", "CD14"} and len(links) == 4
    classes = {n["data"]["id"]: n["classes"] for n in nodes}
    assert classes["SPI1"] == "tf focus" and classes["CEBPB"] == "tf" and classes["LYZ"] == ""
    assert all({"x", "y"} <= set(n["position"]) for n in nodes)
    widths = {(e["data"]["source"], e["data"]["target"]): e["data"]["width"] for e in links}
    assert widths[("SPI1", "LYZ")] == 6 and widths[("SPI1", "CEBPB")] == 1
    assert [e["classes"] for e in links] == ["", "in_prior", "", ""]
    assert network_elements(ADJACENCIES.head(0)) == []


def test_embedding_traces_per_category_and_selection():
    coordinates = np.arange(12, dtype=float).reshape(6, 2)
    figure = embedding_scatter(coordinates, pd.Series(list("aabbcc")), title="cell type", selected=[1, 4])
    assert [t.name for t in figure.data] == ["a", "b", "c"]
    assert list(figure.data[0].customdata) == [0, 1] and list(figure.data[0].selectedpoints) == [1]
    # customdata goes to the browser as a plain JSON list: dcc.Graph reads it back by index for
    # selectedData, which a base64 typed array (plotly's numpy encoding) would lose
    assert figure.to_plotly_json()["data"][0]["customdata"] == [0, 1]
    continuous = embedding_scatter(coordinates, pd.Series(np.linspace(0, 1, 6), name="AUC"), title="AUC")
    assert len(continuous.data) == 1 and continuous.data[0].marker.showscale


def test_auc_distribution_counts_cells_on():
    figure = auc_distribution(np.array([0.01, 0.02, 0.2, 0.3]), 0.1, regulon="SPI1(+)")
    assert "2 of 4 cells on" in figure.layout.title.text and sum(figure.data[0].y) == 4
    lassoed = auc_distribution(np.array([0.01, 0.02, 0.2, 0.3]), 0.1, regulon="SPI1(+)", selected=[2, 3])
    assert len(lassoed.data) == 2 and sum(lassoed.data[1].y) == 2 and lassoed.data[1].name == "2 selected"


def test_clustermap_orders_by_clustering_and_reports_clicks():
    table = pd.DataFrame(
        [[2.0, 1.9, -1.0], [-1.0, -1.1, 2.0], [1.9, 2.0, -0.9]],
        index=["Mono", "T", "DC"],
        columns=["SPI1(+)", "CEBPB(+)", "TCF7(+)"],
    )
    figure = clustermap(table, title="z")
    heatmap = next(t for t in figure.data if t.type == "heatmap")
    rows = [c.split("|")[0] for c in np.asarray(heatmap.customdata)[:, 0]]
    assert abs(rows.index("Mono") - rows.index("DC")) == 1  # similar rows are neighbours
    assert len([t for t in figure.data if t.type == "scatter"]) == 4  # 2 merges per axis
    labels = figure.layout[heatmap.yaxis.replace("y", "yaxis")]
    assert labels.showticklabels and list(labels.ticktext) == rows  # cell types named beside their rows
    point = {"points": [{"customdata": "Mono|TCF7(+)"}]}
    assert clicked_cell(point) == ("Mono", "TCF7(+)") and clicked_cell(None) is None


def test_tf_expression_heatmap_and_dot_plot():
    mean = pd.DataFrame({"SPI1": [2.0, 0.1], "TCF7": [0.0, 1.5]}, index=["Mono", "T"])
    detected = pd.DataFrame({"SPI1": [0.9, 0.05], "TCF7": [0.0, 0.8]}, index=["Mono", "T"])
    heat = tf_expression(mean)
    assert list(heat.data[0].y) == ["SPI1", "TCF7"] and list(heat.data[0].x) == ["Mono", "T"]
    dots = tf_expression(mean, detected=detected, dots=True)
    assert dots.data[0].type == "scatter" and max(dots.data[0].marker.size) == pytest.approx(4 + 20 * 0.9)


def test_genes_detected_marks_quantiles_and_the_aucell_cut_off():
    from gridapp.figures.auc import genes_detected

    detected = np.arange(100, 1100)
    figure = genes_detected(detected, 2000, 0.05)
    lines = [shape.x0 for shape in figure.layout.shapes]
    assert lines[-1] == 100.0 and np.isclose(lines[0], np.quantile(detected, 0.01))
    title = figure.layout.title.text.replace("<br>", " ")  # wrapped to the control column
    assert "top 100 of 2000 genes" in title and "0.0% of cells" in title


def test_importance_histogram_draws_precision_against_a_prior_on_its_own_axis():
    truth = pd.DataFrame({"TF": ["SPI1", "SPI1", "TCF7"], "target": ["LYZ", "CD14", "LEF1"]})
    genes = sorted(set(ADJACENCIES["TF"]) | set(ADJACENCIES["target"]))
    table = candidate_scores(ADJACENCIES, truth, tfs=["SPI1", "TCF7", "CEBPB"], genes=genes)
    edges, counts = importance_bins(ADJACENCIES["importance"].to_numpy(), bins=8)
    sampled = precision_at(precision_by_threshold(table), 10**edges)
    figure = importance_histogram(edges, counts, 5.0, n_kept=4, precision=sampled, random_precision=0.2)
    _, precision, random = figure.data
    assert precision.yaxis == "y2" and random.yaxis == "y2" and list(random.y) == [0.2, 0.2]
    # at the lowest edge every inferred candidate is kept: 3 of the 5 edges of SPI1 and TCF7 (CEBPB is no
    # TF of the truth, so no candidate) are known; at the top only SPI1→LYZ, a known one
    assert precision.y[0] == pytest.approx(3 / 5) and precision.y[-1] == pytest.approx(1.0)
    assert figure.layout.yaxis2.overlaying == "y" and len(importance_histogram(edges, counts, 5.0, n_kept=4).data) == 1


def test_benchmark_curves_one_colour_per_method_one_legend_entry():
    roc = pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]})
    pr = pd.DataFrame({"recall": [0, 0.5, 1], "precision": [1, 0.6, 0.3]})
    figure = curves_figure({("pearson", 0): (roc, pr), ("engine", 0): (roc, pr), ("engine", 1): (roc, pr)}, "mDC")
    lines = [t for t in figure.data if t.name != "random"]
    assert len(lines) == 6 and sum(t.showlegend for t in lines) == 2
    colours = {t.name: t.line.color for t in lines}
    assert colours["pearson"] != colours["engine"] and figure.layout.title.text == "mDC"


DIFFERENTIAL = pd.DataFrame(
    {
        "cell_type": ["Mono", "Mono", "Mono", "T", "T", "T"],
        "regulon": ["STAT1(+)", "SPI1(+)", "MYC(+)"] * 2,
        "group_a": "ctrl",
        "group_b": "stim",
        "delta": [0.2, -0.05, 0.001, 0.1, 0.0, -0.002],
        "pvalue": [1e-4, 0.01, 0.8, 1e-3, 0.9, 0.7],
        "qvalue": [3e-4, 0.015, 0.8, 3e-3, 0.9, 0.9],
        "test": "moderated (limma-style) t-test on donor means",
    }
)


def test_volcano_colours_significant_regulons_by_direction():
    figure = volcano(DIFFERENTIAL, "Mono", selected="SPI1(+)")
    trace = figure.data[0]
    assert list(trace.customdata) == ["STAT1(+)", "SPI1(+)", "MYC(+)"]
    np.testing.assert_allclose(trace.y, [4, 2, -np.log10(0.8)])
    assert list(trace.marker.color) == ["#d62728", "#1f77b4", "#9aa5b1"]  # up, down, not significant
    assert list(trace.marker.line.width) == [0, 3, 0]
    assert list(trace.text) == ["STAT1(+)", "SPI1(+)", ""]
    assert "2 with q < 0.05" in figure.layout.title.text.replace("<br>", " ")


def test_delta_heatmap_marks_significance():
    figure = delta_heatmap(DIFFERENTIAL)
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["Mono", "T"] and list(heatmap.x) == ["MYC(+)", "SPI1(+)", "STAT1(+)"]
    assert heatmap.text.tolist() == [["", "*", "**"], ["", "", "**"]]
    assert heatmap.zmin == -heatmap.zmax == -0.2


def test_split_embedding_has_one_panel_per_group_on_one_colour_scale():
    coordinates = np.arange(12, dtype=float).reshape(6, 2)
    values = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], name="STAT1(+)")
    groups = pd.Series(["ctrl", "stim", "ctrl", "stim", "ctrl", "other"])
    figure = split_embedding(coordinates, values, groups, ["ctrl", "stim"])
    assert [t.name for t in figure.data] == ["ctrl", "stim"]
    assert list(figure.data[1].marker.color) == [0.2, 0.4]
    assert {(t.marker.cmin, t.marker.cmax) for t in figure.data} == {(0.1, 0.6)}
    assert [t.marker.showscale for t in figure.data] == [False, True]


def test_rewiring_elements_style_gained_and_lost_edges():
    edges = pd.DataFrame(
        {
            "TF": ["STAT1", "STAT1", "STAT1", "SPI1"],
            "target": ["IFIT1", "MX1", "LYZ", "LYZ"],
            "importance_a": [np.nan, 3.0, 5.0, 9.0],
            "importance_b": [8.0, 4.0, np.nan, 9.0],
            "status": ["gained", "kept", "lost", "kept"],
        }
    )
    links = [e for e in rewiring_elements(edges, focus=("STAT1",)) if "source" in e["data"]]
    styled = {(e["data"]["target"], e["classes"]) for e in links}
    assert styled == {("IFIT1", "gained"), ("MX1", "kept"), ("LYZ", "lost")}
    assert max(links, key=lambda e: e["data"]["importance"])["data"]["target"] == "IFIT1"
    assert len([e for e in rewiring_elements(edges) if "source" in e["data"]]) == 4


def test_signed_links_are_classed_by_sign_and_the_stylesheet_tells_them_apart():
    from gridapp.figures.network import STYLESHEET

    signed = ADJACENCIES.head(3).assign(coefficient=[0.5, -0.2, 0.1], in_prior=[False, False, True])
    links = [e for e in network_elements(signed) if "source" in e["data"]]
    assert [e["classes"] for e in links] == ["activating", "repressing", "in_prior activating"]
    style = {rule["selector"]: rule["style"] for rule in STYLESHEET}
    assert style["edge.activating"]["line-color"] != style["edge.repressing"]["line-color"]
    assert style["edge.repressing"]["target-arrow-shape"] == "tee"
    selectors = [rule["selector"] for rule in STYLESHEET]
    assert selectors.index("edge.in_prior") > selectors.index("edge.activating")  # known links stay green


def test_signed_links_make_a_mirrored_histogram_with_one_threshold():
    from gridapp.figures.importance import ACTIVATING_COLOUR, DROPPED_COLOUR, REPRESSING_COLOUR, signed_bins

    coefficient = np.r_[np.logspace(-2, 1, 300), -np.logspace(-2, 0, 100), 0.0]
    edges, positive, negative = signed_bins(coefficient, bins=30)
    assert positive.sum() == 300 and negative.sum() == 100  # a zero coefficient is no link
    assert np.isclose(edges[0], -2) and np.isclose(edges[-1], 1)
    figure = importance_histogram(edges, positive, 0.1, n_kept=250, repressing=negative)
    up, down = figure.data
    np.testing.assert_allclose(up.y, np.log10(1 + positive))  # the same log count scale on both sides
    np.testing.assert_allclose(down.y, -np.log10(1 + negative))
    centres = (edges[:-1] + edges[1:]) / 2
    assert set(np.asarray(up.marker.color)[centres >= -1]) == {ACTIVATING_COLOUR}
    assert set(np.asarray(down.marker.color)[(centres >= -1) & (negative > 0)]) == {REPRESSING_COLOUR}
    assert set(np.asarray(down.marker.color)[centres < -1]) == {DROPPED_COLOUR}
    assert "|coefficient| ≥ 0.1" in figure.layout.title.text
    ticks = dict(zip(figure.layout.yaxis.tickvals, figure.layout.yaxis.ticktext))
    assert ticks[-np.log10(11)] == "10" and ticks[np.log10(11)] == "10"
