"""The layout every figure shares (title clear of the mode-bar), marks of the selected regulon / TF, notes,
and the importance histogram's clicks, tested as data."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

import gridapp.figures
from gridapp.figures.auc import LABEL_GAP, auc_distribution, genes_detected
from gridapp.figures.base import CHAR_WIDTH, MODEBAR_BUTTONS, MODEBAR_HEIGHT, line_height, placeholder
from gridapp.figures.benchmark import curves_figure
from gridapp.figures.clustermap import clustermap
from gridapp.figures.compare import delta_heatmap, split_embedding, volcano
from gridapp.figures.embedding import embedding_scatter
from gridapp.figures.heatmap import tf_expression
from gridapp.figures.importance import importance_bins, importance_histogram, threshold_of_click

SCORES = pd.DataFrame(
    [[2.0, 1.9, -1.0], [-1.0, -1.1, 2.0], [1.9, 2.0, -0.9]],
    index=["Mono", "T", "DC"],
    columns=["SPI1(+)", "CEBPB(+)", "TCF7(+)"],
)
MEAN = pd.DataFrame({"SPI1": [2.0, 0.1], "TCF7": [0.0, 1.5], "PAX5": [0.2, 0.1]}, index=["Mono", "T"])
DETECTED = MEAN.clip(upper=1.0)
COORDINATES = np.arange(12, dtype=float).reshape(6, 2)
DIFFERENTIAL = pd.DataFrame(
    {
        "cell_type": ["Mono", "Mono", "T", "T"],
        "regulon": ["STAT1(+)", "SPI1(+)"] * 2,
        "group_a": "ctrl",
        "group_b": "stim",
        "delta": [0.2, -0.05, 0.1, 0.0],
        "pvalue": [1e-4, 0.01, 1e-3, 0.9],
        "qvalue": [3e-4, 0.015, 3e-3, 0.9],
        "test": "moderated (limma-style) t-test on donor means",
    }
)
CURVES = (pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]}), pd.DataFrame({"recall": [0, 1], "precision": [1, 0.3]}))

#: one small figure from every public function of gridapp.figures that returns a figure
FIGURES = {
    "auc_distribution": lambda: auc_distribution(np.array([0.01, 0.02, 0.2, 0.3]), 0.1, regulon="SPI1(+)"),
    "genes_detected": lambda: genes_detected(np.arange(100, 1100), 2000, 0.05),
    "curves_figure": lambda: curves_figure({("pearson", 0): CURVES}, "mDC"),
    "clustermap": lambda: clustermap(SCORES, title="mean AUC, z-scored per regulon", mark="TCF7(+)"),
    "tf_expression": lambda: tf_expression(MEAN, detected=DETECTED, dots=True, mark="TCF7"),
    "embedding_scatter": lambda: embedding_scatter(COORDINATES, pd.Series(list("aabbcc")), title="cell type"),
    "importance_histogram": lambda: importance_histogram(*importance_bins(np.logspace(-2, 2, 100)), 1.0, n_kept=50),
    "volcano": lambda: volcano(DIFFERENTIAL, "Mono"),
    "delta_heatmap": lambda: delta_heatmap(DIFFERENTIAL),
    "split_embedding": lambda: split_embedding(
        COORDINATES, pd.Series(np.linspace(0, 1, 6), name="AUC: SPI1(+)"), pd.Series(list("ababab")), ["a", "b"]
    ),
    "placeholder": lambda: placeholder("Launch a run (left) to see the edge importance histogram here"),
}


def assert_clear_of_the_modebar(figure) -> None:
    """The shared layout: a left-aligned title below the mode-bar's band, each line short enough for a
    dashboard panel, and a top margin holding band and title."""
    title = figure.layout.title
    assert (title.xref, title.yref, title.xanchor, title.yanchor) == ("container", "container", "left", "top")
    toolbar = not figure.layout.modebar.remove
    band = MODEBAR_HEIGHT if toolbar else 0
    lines = title.text.split("<br>") if title.text else []
    assert title.pad.t >= band and figure.layout.margin.t >= band + len(lines) * line_height(title.font.size)
    assert all(len(line) * title.font.size * CHAR_WIDTH <= 440 for line in lines)
    if not toolbar:
        assert set(MODEBAR_BUTTONS) <= set(figure.layout.modebar.remove)


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_keeps_its_title_clear_of_the_modebar(name):
    assert_clear_of_the_modebar(FIGURES[name]())


def _makes_a_figure(name: str, function) -> bool:
    """Whether ``function`` is public and returns a new figure (rather than laying one out)."""
    signature = inspect.signature(function)
    takes_a_figure = any(p.annotation == "go.Figure" for p in signature.parameters.values())
    return not name.startswith("_") and signature.return_annotation == "go.Figure" and not takes_a_figure


def test_every_figure_function_is_checked_for_the_shared_layout():
    """A new figure function must join FIGURES (and so the shared layout check) above."""
    found = set()
    for module in pkgutil.iter_modules(gridapp.figures.__path__):
        loaded = importlib.import_module(f"gridapp.figures.{module.name}")
        for name, function in inspect.getmembers(loaded, inspect.isfunction):
            if function.__module__ == loaded.__name__ and _makes_a_figure(name, function):
                found.add(name)
    assert found <= set(FIGURES), f"figures without the shared layout check: {sorted(found - set(FIGURES))}"


def test_a_long_title_wraps_and_the_top_margin_grows_with_it():
    short = auc_distribution(np.array([0.01, 0.2]), 0.1, regulon="SPI1(+)")
    name = "ZNF_very_long_regulon_name_from_an_extended_motif_collection_v10(+)"
    long = auc_distribution(np.array([0.01, 0.2]), 0.1, regulon=f"{name} and friends")
    assert "<br>" not in short.layout.title.text and long.layout.title.text.count("<br>") >= 1
    assert long.layout.margin.t > short.layout.margin.t
    assert_clear_of_the_modebar(long)


def test_auc_distribution_title_is_short_and_the_threshold_labels_its_line():
    figure = FIGURES["auc_distribution"]()
    assert figure.layout.title.text == "SPI1(+): 2 of 4 cells on"
    assert [a.text for a in figure.layout.annotations] == ["AUC > 0.1"]


def test_genes_detected_labels_close_quantiles_once_and_staggers_neighbours():
    detected = np.r_[np.full(10, 700), np.linspace(720, 760, 50), np.full(440, 900)]
    figure = genes_detected(detected, 2000, 0.05)
    labels = [(a.text, a.x, a.yshift) for a in figure.layout.annotations]
    assert [text for text, _, _ in labels] == ["1/5/10%", "50%"]  # 1, 5 and 10 % lie within 60 genes
    assert labels[0][1] == pytest.approx(np.quantile(detected, 0.01)) and labels[0][2] != labels[1][2]
    span = 900 - 100  # the x range runs from the cut-off (100) to the most genes detected
    for row in {shift for _, _, shift in labels}:
        xs = sorted(x for _, x, shift in labels if shift == row)
        assert all(b - a >= 2 * LABEL_GAP * span for a, b in pairwise(xs))


def test_clustermap_marks_the_selected_regulons_column():
    figure = clustermap(SCORES, title="z", mark="TCF7(+)")
    heatmap = next(t for t in figure.data if t.type == "heatmap")
    labels = list(figure.layout[heatmap.xaxis.replace("x", "xaxis")].ticktext)
    column = labels.index("<b>TCF7(+)</b>")
    (shape,) = figure.layout.shapes
    assert (shape.xref, shape.yref) == (heatmap.xaxis, heatmap.yaxis)
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (column - 0.5, column + 0.5, -0.5, 2.5)
    (pointer,) = figure.layout.annotations
    assert pointer.text == "▼" and pointer.x == column and pointer.y == 2.5 and pointer.yanchor == "bottom"
    unmarked = clustermap(SCORES, title="z", mark="MYC(+)")
    heatmap = next(t for t in unmarked.data if t.type == "heatmap")
    assert not unmarked.layout.shapes and not unmarked.layout.annotations
    assert not any("<b>" in t for t in unmarked.layout[heatmap.xaxis.replace("x", "xaxis")].ticktext)


def test_clustermap_of_one_cell_type_says_why_it_is_blank():
    figure = clustermap(pd.DataFrame([[0.0, 0.0]], index=["Mono"], columns=["SPI1(+)", "TCF7(+)"]), title="z")
    heatmap = next(t for t in figure.data if t.type == "heatmap")
    (note,) = figure.layout.annotations
    assert "One cell type (Mono)" in note.text and "two or more" in note.text.replace("<br>", " ")
    assert note.xref == f"{heatmap.xaxis} domain" and heatmap.showscale is False
    assert next(t for t in clustermap(SCORES, title="z").data if t.type == "heatmap").showscale is not False


@pytest.mark.parametrize("dots", [False, True])
def test_tf_expression_marks_the_selected_tfs_row(dots):
    figure = tf_expression(MEAN, detected=DETECTED, dots=dots, mark="TCF7")
    assert list(figure.layout.yaxis.categoryarray) == ["SPI1", "TCF7", "PAX5"]
    assert list(figure.layout.yaxis.ticktext) == ["SPI1", "<b>TCF7</b>", "PAX5"]
    (shape,) = figure.layout.shapes
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (-0.5, 1.5, 0.5, 1.5)  # TCF7 is row 1 of 2 cell types
    (pointer,) = figure.layout.annotations
    assert pointer.text == "◀" and pointer.y == 1 and (pointer.xref, pointer.x) == ("paper", 1)
    unmarked = tf_expression(MEAN, detected=DETECTED, dots=dots, mark="MYC")
    assert not unmarked.layout.shapes and not unmarked.layout.annotations
    assert list(unmarked.layout.yaxis.ticktext) == ["SPI1", "TCF7", "PAX5"]


def test_a_long_colour_title_runs_up_the_colour_bar():
    colour = pd.Series(np.linspace(0, 1, 6), name="AUC: SPI1_extended(+)")
    figure = embedding_scatter(COORDINATES, colour, title="AUC: SPI1_extended(+)")
    assert figure.data[0].marker.colorbar.title.side == "right"
    assert figure.data[0].marker.colorbar.title.text == "AUC: SPI1_extended(+)"


def test_clicking_a_bar_keeps_the_whole_bar():
    importance = 10 ** np.random.default_rng(0).normal(0, 1, 5000)
    edges, counts = importance_bins(importance, bins=30)
    bars = importance_histogram(edges, counts, 1.0, n_kept=0).data[0]
    np.testing.assert_allclose([bar["left"] for bar in bars.customdata], edges[:-1])
    clicked = 17
    point = {"points": [{"curveNumber": 0, "x": bars.x[clicked], "customdata": bars.customdata[clicked]}]}
    threshold = threshold_of_click(point)
    assert threshold == pytest.approx(edges[clicked]) and threshold < bars.x[clicked]
    assert (importance >= 10**threshold).sum() == counts[clicked:].sum()  # every edge of the bar and above


def test_a_click_without_bars_gives_no_threshold():
    curve = {"points": [{"curveNumber": 1, "x": 0.5, "customdata": [3.1, 0.4]}]}  # the precision curve
    assert threshold_of_click(None) is None and threshold_of_click({"points": []}) is None
    assert threshold_of_click(curve) is None


def test_the_importance_axis_reads_in_importance():
    figure = FIGURES["importance_histogram"]()
    assert figure.layout.xaxis.title.text == "importance (log scale)"
    assert list(figure.layout.xaxis.ticktext) == ["0.01", "0.1", "1", "10", "100"]


def test_placeholder_is_a_bare_message():
    figure = placeholder("Launch a run (left) to see the edge importance histogram here", height=200)
    (message,) = figure.layout.annotations
    assert "Launch a run" in message.text and (message.x, message.y, message.xref) == (0.5, 0.5, "paper")
    assert figure.layout.xaxis.visible is False and figure.layout.yaxis.visible is False
    assert not figure.data and figure.layout.height == 200 and figure.layout.dragmode is False
