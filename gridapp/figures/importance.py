"""Distribution of edge importances on a log axis, with the threshold a user picks by eye."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

KEPT_COLOUR = "#1f77b4"
DROPPED_COLOUR = "#c7ccd1"
PRECISION_COLOUR = "#2ca02c"


def importance_bins(importance: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``log10(importance)`` over positive importances: (bin edges, counts)."""
    logs = np.log10(importance[importance > 0])
    if logs.size == 0:
        return np.array([0.0, 1.0]), np.array([0])
    counts, edges = np.histogram(logs, bins=bins)
    return edges, counts


def importance_histogram(
    edges: np.ndarray,
    counts: np.ndarray,
    threshold: float,
    *,
    n_kept: int,
    precision: pd.DataFrame | None = None,
    random_precision: float | None = None,
) -> go.Figure:
    """Bars of the importance histogram (kept bins coloured) and a line at ``threshold``.

    The x axis is ``log10(importance)`` with ticks labelled as importances; clicking a bar reports
    its x (log10) in ``clickData``. With ``precision`` (``threshold, precision, recall`` of keeping the
    edges ≥ each threshold, against a prior) its curve is drawn on a right-hand axis, with the
    precision of a random choice (``random_precision``) as a dotted line.
    """
    centres = (edges[:-1] + edges[1:]) / 2
    log_threshold = np.log10(threshold) if threshold > 0 else edges[0]
    colours = np.where(centres >= log_threshold, KEPT_COLOUR, DROPPED_COLOUR)
    ticks = np.arange(np.floor(edges[0]), np.ceil(edges[-1]) + 1)
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            marker_color=colours,
            hovertemplate="importance ≈ %{customdata:.3g}<br>%{y} edges<extra></extra>",
            customdata=10**centres,
        )
    )
    figure.add_vline(x=log_threshold, line_color="#d62728", line_width=2)
    if precision is not None and len(precision):
        figure.add_trace(
            go.Scatter(
                x=np.log10(precision["threshold"]),
                y=precision["precision"],
                yaxis="y2",
                mode="lines",
                line={"color": PRECISION_COLOUR, "width": 2},
                name="precision",
                customdata=np.c_[precision["threshold"], precision["recall"]],
                hovertemplate="importance ≥ %{customdata[0]:.3g}<br>precision %{y:.3f}, recall %{customdata[1]:.3f}"
                "<extra>vs prior</extra>",
            )
        )
        if random_precision is not None:
            figure.add_trace(
                go.Scatter(
                    x=[edges[0], edges[-1]],
                    y=[random_precision, random_precision],
                    yaxis="y2",
                    mode="lines",
                    line={"color": PRECISION_COLOUR, "dash": "dot", "width": 1},
                    hovertemplate=f"random choice: precision {random_precision:.3f}<extra></extra>",
                )
            )
        figure.update_layout(
            yaxis2={"title": "precision vs prior", "overlaying": "y", "side": "right", "rangemode": "tozero"},
            showlegend=False,
        )
    figure.update_layout(
        title=f"{n_kept:,} edges with importance ≥ {threshold:.3g}",
        xaxis={"title": "importance (log scale)", "tickvals": ticks, "ticktext": [f"{10**t:g}" for t in ticks]},
        yaxis={"title": "edges", "type": "log"},
        bargap=0,
        margin={"l": 50, "r": 55 if precision is not None else 10, "t": 40, "b": 40},
        clickmode="event",
    )
    return figure
