"""One regulon's AUC distribution over cells, with its on/off threshold (AUCell-style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go


def auc_distribution(
    values: np.ndarray, threshold: float, *, regulon: str, bins: int = 50, selected: Sequence[int] | None = None
) -> go.Figure:
    """Histogram of a regulon's AUC values with a line at the binarisation threshold.

    ``selected`` cell positions (a lasso selection elsewhere) are overlaid as their own histogram.
    """
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    n_on = int((values > threshold).sum())
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            name="all cells",
            marker_color=np.where(centres > threshold, "#2ca02c", "#c7ccd1"),
        )
    )
    if selected:
        chosen, _ = np.histogram(values[list(selected)], bins=edges)
        figure.add_trace(
            go.Bar(x=centres, y=chosen, width=np.diff(edges), name=f"{len(selected)} selected", marker_color="#ff7f0e")
        )
    figure.add_vline(x=threshold, line_color="#d62728", line_width=2)
    figure.update_layout(
        title=f"{regulon}: {n_on:,} of {len(values):,} cells on (AUC > {threshold:.3g})",
        xaxis_title="AUC",
        yaxis_title="cells",
        bargap=0,
        barmode="overlay",
        showlegend=bool(selected),
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
    )
    return figure


def genes_detected(detected: np.ndarray, n_genes: int, auc_threshold: float) -> go.Figure:
    """Genes detected per cell, with its 1/5/10/50 % quantiles and AUCell's ranking cut-off.

    The cut-off (``auc_threshold × n_genes``) should sit left of almost every cell, so that AUCell
    integrates over detected genes only.
    """
    cut_off = auc_threshold * n_genes
    figure = go.Figure(go.Histogram(x=detected, nbinsx=40, marker_color="#9fb3c8", name="cells"))
    for quantile in (0.01, 0.05, 0.10, 0.50):
        figure.add_vline(
            x=float(np.quantile(detected, quantile)),
            line_dash="dot",
            line_color="#486581",
            annotation_text=f"{quantile:.0%}",
            annotation_position="top",
        )
    figure.add_vline(x=cut_off, line_color="#d62728", line_width=2)
    below = float((detected < cut_off).mean())
    figure.update_layout(
        title={
            "text": f"AUC threshold {auc_threshold:.3f} = top {cut_off:.0f} of {n_genes} genes; "
            f"{below:.1%} of cells detect fewer",
            "font": {"size": 11},
        },
        xaxis_title="genes detected per cell",
        yaxis_title="cells",
        height=220,
        showlegend=False,
        margin={"l": 40, "r": 5, "t": 40, "b": 35},
    )
    return figure
