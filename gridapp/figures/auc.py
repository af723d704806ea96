"""One regulon's AUC distribution over cells, with its on/off threshold (AUCell-style)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def auc_distribution(values: np.ndarray, threshold: float, *, regulon: str, bins: int = 50) -> go.Figure:
    """Histogram of a regulon's AUC values with a line at the binarisation threshold."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    n_on = int((values > threshold).sum())
    figure = go.Figure(
        go.Bar(
            x=centres, y=counts, width=np.diff(edges), marker_color=np.where(centres > threshold, "#2ca02c", "#c7ccd1")
        )
    )
    figure.add_vline(x=threshold, line_color="#d62728", line_width=2)
    figure.update_layout(
        title=f"{regulon}: {n_on:,} of {len(values):,} cells on (AUC > {threshold:.3g})",
        xaxis_title="AUC",
        yaxis_title="cells",
        bargap=0,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
    )
    return figure
