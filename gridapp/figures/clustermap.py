"""Cell type × regulon clustermap: a heatmap ordered by hierarchical clustering, dendrograms on both axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram, linkage

from gridapp.figures.base import apply_layout, colour_bar, marked_labels, note, outline, pointer

#: fractions of the figure for the row dendrogram (left) and the column dendrogram (top); the colour bar
#: fills the corner they leave
TREE_WIDTH = 0.14
TREE_HEIGHT = 0.24


def _order_and_tree(matrix: np.ndarray) -> tuple[list[int], list[tuple[list[float], list[float]]]]:
    """Leaf order and dendrogram segments (in leaf units: leaf i sits at i) of the rows of ``matrix``."""
    if len(matrix) < 2:
        return list(range(len(matrix))), []
    tree = dendrogram(linkage(matrix, method="average", metric="euclidean"), no_plot=True)
    segments = [([x / 10 - 0.5 for x in xs], list(ys)) for xs, ys in zip(tree["icoord"], tree["dcoord"])]
    return list(tree["leaves"]), segments


def clustermap(table: pd.DataFrame, *, title: str, colour_title: str = "z-score", mark: str | None = None) -> go.Figure:
    """Clustered heatmap of a cell types × regulons table with both dendrograms.

    Clicking a cell reports the regulon as ``x`` and the cell type as ``y`` in ``clickData``.

    Parameters
    ----------
    table
        Cell types × regulons scores (z-scored mean AUC, RSS).
    title
        The figure's title.
    colour_title
        The colour bar's title.
    mark
        A regulon (column) to mark: outlined, pointed at (▼) and its label bold; ignored when not in
        ``table``.

    Returns
    -------
    The figure. A table whose values are all equal (one cell type: z-scores need two or more) is drawn
    without a colour bar and with a note saying why it is blank.
    """
    values = table.to_numpy(dtype=float)
    row_order, row_tree = _order_and_tree(values)
    col_order, col_tree = _order_and_tree(values.T)
    ordered = table.iloc[row_order, col_order]
    figure = make_subplots(
        rows=2,
        cols=2,
        column_widths=[TREE_WIDTH, 1 - TREE_WIDTH],
        row_heights=[TREE_HEIGHT, 1 - TREE_HEIGHT],
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.005,
        vertical_spacing=0.01,
    )
    _add_trees(figure, row_tree, col_tree)
    blank = _blank_reason(table)
    figure.add_trace(
        _heatmap(ordered, colour_title, centred=np.nanmin(values, initial=0) < 0, scale=blank is None), 2, 2
    )
    heatmap = figure.data[-1]
    _label_axes(figure, ordered, mark)
    if mark in ordered.columns:
        _mark_column(figure, heatmap, list(ordered.columns).index(mark), ordered.shape[0])
    if blank is not None:
        figure.add_annotation(note(blank, xref=f"{heatmap.xaxis} domain", yref=f"{heatmap.yaxis} domain"))
    figure.update_layout(plot_bgcolor="white")
    return apply_layout(figure, title)


def _add_trees(figure: go.Figure, row_tree: list, col_tree: list) -> None:
    """Draw the column dendrogram above the heatmap and the row dendrogram to its left."""
    line = {"color": "#555", "width": 1}
    for xs, ys in col_tree:
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip", showlegend=False), 1, 2)
    for xs, ys in row_tree:
        figure.add_trace(
            go.Scatter(x=[-y for y in ys], y=xs, mode="lines", line=line, hoverinfo="skip", showlegend=False), 2, 1
        )


def _heatmap(ordered: pd.DataFrame, colour_title: str, *, centred: bool, scale: bool) -> go.Heatmap:
    """The heatmap of the ordered table at leaf positions; ``customdata`` is ``row|column``; colours centred on 0
    when ``centred``; the colour bar (when ``scale``) fills the empty top-left corner, so the cell-type labels on
    the right stay visible."""
    return go.Heatmap(
        z=ordered.to_numpy(),
        x=list(range(ordered.shape[1])),
        y=list(range(ordered.shape[0])),
        customdata=np.array([[f"{r}|{c}" for c in ordered.columns] for r in ordered.index]),
        colorscale="RdBu_r",
        zmid=0 if centred else None,
        showscale=scale,
        colorbar={
            **colour_bar(colour_title),
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "len": TREE_HEIGHT,
            "ypad": 0,
            "thickness": 10,
            "nticks": 4,
        },
        hovertemplate="%{customdata}<br>%{z:.3g}<extra></extra>",
    )


def _label_axes(figure: go.Figure, ordered: pd.DataFrame, mark: str | None) -> None:
    """Regulon labels under the heatmap (``mark`` bold), cell types on its right; no labels by the dendrograms."""
    figure.update_xaxes(
        tickvals=list(range(ordered.shape[1])),
        ticktext=marked_labels(ordered.columns, mark),
        tickangle=-60,
        row=2,
        col=2,
    )
    figure.update_yaxes(
        tickvals=list(range(ordered.shape[0])),
        ticktext=list(ordered.index),
        side="right",
        showticklabels=True,  # shared y axes hide all but the first column's labels
        row=2,
        col=2,
    )
    figure.update_yaxes(showticklabels=False, row=2, col=1)
    figure.update_xaxes(showticklabels=False, row=2, col=1)
    figure.update_xaxes(showticklabels=False, row=1, col=2)
    figure.update_yaxes(showticklabels=False, row=1, col=2)


def _blank_reason(table: pd.DataFrame) -> str | None:
    """Why a table's heatmap shows no contrast (all its values equal), or None when it has some."""
    values = table.to_numpy(dtype=float)
    if values.size and np.nanmax(values, initial=-np.inf) > np.nanmin(values, initial=np.inf):
        return None
    value = f"{values.flat[0]:.3g}" if values.size else "nothing"
    if len(table) == 1:
        return (
            f"One cell type ({table.index[0]}): these scores compare cell types and need two or more, "
            f"so every regulon scores {value}."
        )
    return f"Every cell type scores {value} on every regulon: nothing to compare."


def _mark_column(figure: go.Figure, heatmap: go.Heatmap, column: int, n_rows: int) -> None:
    """Outline column ``column`` of ``heatmap`` and point at it (▼) from above."""
    figure.add_shape(
        outline(xref=heatmap.xaxis, yref=heatmap.yaxis, x=(column - 0.5, column + 0.5), y=(-0.5, n_rows - 0.5))
    )
    figure.add_annotation(
        pointer("▼", x=column, y=n_rows - 0.5, xref=heatmap.xaxis, yref=heatmap.yaxis, yanchor="bottom")
    )


def clicked_cell(click_data: dict | None) -> tuple[str, str] | None:
    """(cell type, regulon) of a click on :func:`clustermap`'s heatmap; None for any other value (a click
    elsewhere, or whatever a request holds)."""
    try:
        cell_type, regulon = str(click_data["points"][0]["customdata"]).split("|", 1)
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return cell_type, regulon
