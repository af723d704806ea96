"""Cell type × regulon clustermap: a heatmap ordered by hierarchical clustering, dendrograms on both axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram, linkage


def _order_and_tree(matrix: np.ndarray) -> tuple[list[int], list[tuple[list[float], list[float]]]]:
    """Leaf order and dendrogram segments (in leaf units: leaf i sits at i) of the rows of ``matrix``."""
    if len(matrix) < 2:
        return list(range(len(matrix))), []
    tree = dendrogram(linkage(matrix, method="average", metric="euclidean"), no_plot=True)
    segments = [([x / 10 - 0.5 for x in xs], list(ys)) for xs, ys in zip(tree["icoord"], tree["dcoord"])]
    return list(tree["leaves"]), segments


def clustermap(table: pd.DataFrame, *, title: str, colour_title: str = "z-score") -> go.Figure:
    """Clustered heatmap of a cell types × regulons table with both dendrograms.

    Clicking a cell reports the regulon as ``x`` and the cell type as ``y`` in ``clickData``.
    """
    values = table.to_numpy(dtype=float)
    row_order, row_tree = _order_and_tree(values)
    col_order, col_tree = _order_and_tree(values.T)
    ordered = table.iloc[row_order, col_order]
    figure = make_subplots(
        rows=2,
        cols=2,
        column_widths=[0.12, 0.88],
        row_heights=[0.18, 0.82],
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.005,
        vertical_spacing=0.01,
    )
    line = {"color": "#555", "width": 1}
    for xs, ys in col_tree:
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip", showlegend=False), 1, 2)
    for xs, ys in row_tree:
        figure.add_trace(
            go.Scatter(x=[-y for y in ys], y=xs, mode="lines", line=line, hoverinfo="skip", showlegend=False), 2, 1
        )
    figure.add_trace(
        go.Heatmap(
            z=ordered.to_numpy(),
            x=list(range(ordered.shape[1])),
            y=list(range(ordered.shape[0])),
            customdata=np.array([[f"{r}|{c}" for c in ordered.columns] for r in ordered.index]),
            colorscale="RdBu_r",
            zmid=0 if values.min() < 0 else None,
            # in the empty top-left corner, so the cell-type labels on the right stay visible
            colorbar={
                "title": colour_title,
                "x": 0,
                "xanchor": "left",
                "y": 1,
                "yanchor": "top",
                "len": 0.2,
                "thickness": 10,
            },
            hovertemplate="%{customdata}<br>%{z:.3g}<extra></extra>",
        ),
        2,
        2,
    )
    figure.update_xaxes(
        tickvals=list(range(ordered.shape[1])), ticktext=list(ordered.columns), tickangle=-60, row=2, col=2
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
    figure.update_layout(title=title, plot_bgcolor="white", margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def clicked_cell(click_data: dict | None) -> tuple[str, str] | None:
    """(cell type, regulon) of a click on :func:`clustermap`'s heatmap, or None."""
    if not click_data or "customdata" not in click_data["points"][0]:
        return None
    cell_type, regulon = str(click_data["points"][0]["customdata"]).split("|", 1)
    return cell_type, regulon
