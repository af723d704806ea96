"""Distribution of edge importances on a log axis, with the threshold a user picks by eye.

A signed method's links (``coefficient``) are drawn as a mirrored histogram of ``|coefficient|``:
activating links above the axis, repressing ones below, one threshold for both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridapp.figures.base import apply_layout

KEPT_COLOUR = "#1f77b4"
DROPPED_COLOUR = "#c7ccd1"
PRECISION_COLOUR = "#2ca02c"
ACTIVATING_COLOUR = "#e08214"
REPRESSING_COLOUR = "#5e3c99"


def importance_bins(importance: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``log10(importance)`` over positive importances: (bin edges, counts)."""
    logs = np.log10(importance[importance > 0])
    if logs.size == 0:
        return np.array([0.0, 1.0]), np.array([0])
    counts, edges = np.histogram(logs, bins=bins)
    return edges, counts


def signed_bins(coefficient: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram of ``log10|coefficient|`` on shared bins: (bin edges, positive counts, negative counts)."""
    edges, _ = importance_bins(np.abs(coefficient), bins=bins)
    logs = np.log10(np.abs(coefficient[coefficient != 0]))
    signs = coefficient[coefficient != 0] > 0
    return edges, np.histogram(logs[signs], bins=edges)[0], np.histogram(logs[~signs], bins=edges)[0]


def importance_histogram(
    edges: np.ndarray,
    counts: np.ndarray,
    threshold: float,
    *,
    n_kept: int,
    precision: pd.DataFrame | None = None,
    random_precision: float | None = None,
    repressing: np.ndarray | None = None,
) -> go.Figure:
    """Bars of the importance histogram (kept bins coloured) and a line at ``threshold``.

    The x axis is ``log10(importance)`` with ticks labelled as importances; clicking a bar reports its
    left edge in ``clickData`` (:func:`threshold_of_click` reads it). With ``precision`` (``threshold,
    precision, recall`` of keeping the edges ≥ each threshold, against a prior) its curve is drawn on a
    right-hand axis, with the precision of a random choice (``random_precision``) as a dotted line.
    With ``repressing`` (counts of negative coefficients on the same bins; ``counts`` are then the
    positive ones) the histogram is mirrored: activating links up, repressing links down, on a log
    count scale.
    """
    centres = (edges[:-1] + edges[1:]) / 2
    log_threshold = np.log10(threshold) if threshold > 0 else edges[0]
    kept = centres >= log_threshold
    ticks = np.arange(np.floor(edges[0]), np.ceil(edges[-1]) + 1)
    if repressing is None:
        figure = go.Figure(_bars(edges, counts, np.where(kept, KEPT_COLOUR, DROPPED_COLOUR), "edges"))
        count_axis = {"title": "edges", "type": "log"}
    else:
        figure = go.Figure(
            [
                _bars(edges, counts, np.where(kept, ACTIVATING_COLOUR, DROPPED_COLOUR), "activating", 1),
                _bars(edges, repressing, np.where(kept, REPRESSING_COLOUR, DROPPED_COLOUR), "repressing", -1),
            ]
        )
        count_axis = _mirrored_log_axis(max(int(np.max(counts, initial=1)), int(np.max(repressing, initial=1))))
    threshold_line = {"type": "line", "xref": "x", "yref": "paper", "x0": log_threshold, "x1": log_threshold}
    figure.layout.shapes = [{**threshold_line, "y0": 0, "y1": 1, "line": {"color": "#d62728", "width": 2}}]
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
    quantity = "importance" if repressing is None else "|coefficient|"
    figure.update_layout(
        xaxis={"title": f"{quantity} (log scale)", "tickvals": ticks, "ticktext": [f"{10**t:g}" for t in ticks]},
        yaxis=count_axis,
        bargap=0,
        barmode="overlay",
        clickmode="event",
    )
    return apply_layout(figure, f"{n_kept:,} edges with {quantity} ≥ {threshold:.3g}")


def threshold_of_click(click_data: dict | None) -> float | None:
    """The ``log10`` threshold that keeps a clicked bar of :func:`importance_histogram`: its left edge.

    Returns
    -------
    The left edge (``log10`` units, as the x axis) of the bar clicked, or None for no click or a click
    on something else (the precision curve).
    """
    points = (click_data or {}).get("points") or [{}]
    bar = points[0].get("customdata")
    return float(bar["left"]) if isinstance(bar, dict) and "left" in bar else None


def _bars(edges: np.ndarray, counts: np.ndarray, colours: np.ndarray, name: str, side: int = 0) -> go.Bar:
    """Histogram bars on ``edges`` (log10); ``side`` ±1 draws ``log10(1 + count)`` above / below the axis
    (mirrored histogram). Each bar's ``customdata`` holds its left edge, the importance at its centre and
    its count."""
    centres = (edges[:-1] + edges[1:]) / 2
    heights = counts if side == 0 else side * np.log10(1 + np.asarray(counts, dtype=float))
    return go.Bar(
        x=centres,
        y=heights,
        width=np.diff(edges),
        marker_color=colours,
        name=name,
        showlegend=False,  # the count axis names the sides
        customdata=[
            {"left": float(left), "importance": float(10**centre), "edges": int(count)}
            for left, centre, count in zip(edges[:-1], centres, counts)
        ],
        hovertemplate=f"{name if side else 'importance'} ≈ %{{customdata.importance:.3g}}<br>"
        "%{customdata.edges} edges<extra></extra>",
    )


def _mirrored_log_axis(largest: int) -> dict:
    """A count axis for :func:`_bars` with ``side`` ±1: ticks at ±log10(1 + 10^k) labelled 10^k."""
    powers = 10 ** np.arange(0, int(np.ceil(np.log10(largest + 1))) + 1)
    positions = np.log10(1 + powers)
    return {
        "title": "repressing  ·  activating",
        "tickvals": [*(-positions[::-1]), 0, *positions],
        "ticktext": [*(f"{p:,}" for p in powers[::-1]), "0", *(f"{p:,}" for p in powers)],
        "zeroline": True,
    }
