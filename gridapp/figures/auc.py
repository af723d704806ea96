"""One regulon's AUC distribution over cells, with its on/off threshold (AUCell-style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gridapp.figures.base import SIDEBAR_WIDTH, SMALL_TITLE_SIZE, apply_layout, line_height

#: quantiles of genes detected per cell marked on :func:`genes_detected`
QUANTILES = (0.01, 0.05, 0.10, 0.50)
#: quantile lines closer than this fraction of the x range share one label
LABEL_GAP = 0.12
QUANTILE_LABEL_SIZE = 10


def auc_distribution(
    values: np.ndarray, threshold: float, *, regulon: str, bins: int = 50, selected: Sequence[int] | None = None
) -> go.Figure:
    """Histogram of a regulon's AUC values with a line at the binarisation threshold.

    ``selected`` cell positions (a lasso selection elsewhere) are overlaid as their own histogram. The
    title names the regulon and its cells on; the threshold is written beside its line.
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
    figure.add_vline(
        x=threshold,
        line_color="#d62728",
        line_width=2,
        annotation_text=f"AUC > {threshold:.3g}",
        annotation_position="top right",
    )
    figure.update_layout(xaxis_title="AUC", yaxis_title="cells", bargap=0, barmode="overlay", showlegend=bool(selected))
    return apply_layout(figure, f"{regulon}: {n_on:,} of {len(values):,} cells on")


def genes_detected(detected: np.ndarray, n_genes: int, auc_threshold: float) -> go.Figure:
    """Genes detected per cell, with its 1/5/10/50 % quantiles and AUCell's ranking cut-off.

    The cut-off (``auc_threshold × n_genes``) should sit left of almost every cell, so that AUCell
    integrates over detected genes only. Quantile lines close together share a label, and neighbouring
    labels alternate between two rows, so that no two overlap.
    """
    cut_off = auc_threshold * n_genes
    figure = go.Figure(go.Histogram(x=detected, nbinsx=40, marker_color="#9fb3c8", name="cells"))
    positions = [float(np.quantile(detected, quantile)) for quantile in QUANTILES]
    for position in positions:
        figure.add_vline(x=position, line_dash="dot", line_color="#486581")
    figure.add_vline(x=cut_off, line_color="#d62728", line_width=2)
    span = max(float(np.max(detected)), cut_off) - min(float(np.min(detected)), cut_off)
    for row, (position, quantiles) in enumerate(quantile_labels(positions, QUANTILES, LABEL_GAP * (span or 1.0))):
        figure.add_annotation(
            x=position,
            xref="x",
            y=1,
            yref="paper",
            xanchor="left",
            yanchor="top",
            yshift=-(row % 2) * line_height(QUANTILE_LABEL_SIZE),
            text="/".join(f"{100 * q:g}" for q in quantiles) + "%",
            showarrow=False,
            font={"size": QUANTILE_LABEL_SIZE, "color": "#486581"},
            bgcolor="rgba(255,255,255,0.8)",
        )
    below = float((detected < cut_off).mean())
    figure.update_layout(xaxis_title="genes detected per cell", yaxis_title="cells", showlegend=False, height=220)
    return apply_layout(
        figure,
        f"AUC threshold {auc_threshold:.3f} = top {cut_off:.0f} of {n_genes} genes; {below:.1%} of cells detect fewer",
        width=SIDEBAR_WIDTH,
        size=SMALL_TITLE_SIZE,
        toolbar=False,
    )


def quantile_labels(
    positions: Sequence[float], quantiles: Sequence[float], gap: float
) -> list[tuple[float, tuple[float, ...]]]:
    """Group sorted quantile lines closer than ``gap`` (x units) to the group's first line.

    Returns
    -------
    (x of the group's first line, its quantiles) per group, left to right.
    """
    groups: list[tuple[float, tuple[float, ...]]] = []
    for position, quantile in zip(positions, quantiles):
        if groups and position - groups[-1][0] < gap:
            groups[-1] = (groups[-1][0], (*groups[-1][1], quantile))
        else:
            groups.append((position, (quantile,)))
    return groups
