"""Distribution of edge importances on a log axis, with the threshold a user picks by eye."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

KEPT_COLOUR = "#1f77b4"
DROPPED_COLOUR = "#c7ccd1"


def importance_bins(importance: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``log10(importance)`` over positive importances: (bin edges, counts)."""
    logs = np.log10(importance[importance > 0])
    if logs.size == 0:
        return np.array([0.0, 1.0]), np.array([0])
    counts, edges = np.histogram(logs, bins=bins)
    return edges, counts


def importance_histogram(edges: np.ndarray, counts: np.ndarray, threshold: float, *, n_kept: int) -> go.Figure:
    """Bars of the importance histogram (kept bins coloured) and a line at ``threshold``.

    The x axis is ``log10(importance)`` with ticks labelled as importances; clicking a bar reports
    its x (log10) in ``clickData``.
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
    figure.update_layout(
        title=f"{n_kept:,} edges with importance ≥ {threshold:.3g}",
        xaxis={"title": "importance (log scale)", "tickvals": ticks, "ticktext": [f"{10**t:g}" for t in ticks]},
        yaxis={"title": "edges", "type": "log"},
        bargap=0,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        clickmode="event",
    )
    return figure
