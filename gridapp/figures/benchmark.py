"""Benchmark figures: ROC and precision–recall curves of several networks on one BEELINE set."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from gridapp.figures.base import SUBPLOT_TITLE_ROOM, apply_layout


def curves_figure(curves: Mapping[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame]], title: str) -> go.Figure:
    """ROC (left) and precision–recall (right) curves, one colour per method, one line per seed.

    Parameters
    ----------
    curves
        ``(method, seed) -> (roc, pr)`` with ``roc`` columns ``fpr, tpr`` and ``pr`` columns ``recall,
        precision`` (:func:`gridapp.core.metrics.curves`).
    title
        The set's id.
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=("ROC", "Precision–recall"), horizontal_spacing=0.1)
    methods = list(dict.fromkeys(method for method, _ in curves))
    colours = {method: qualitative.Plotly[i % len(qualitative.Plotly)] for i, method in enumerate(methods)}
    shown: set[str] = set()
    for (method, seed), (roc, pr) in curves.items():
        style = {"color": colours[method], "width": 1.5}
        common = {"legendgroup": method, "name": method, "hovertemplate": f"{method}, seed {seed}<extra></extra>"}
        figure.add_trace(
            go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", line=style, showlegend=method not in shown, **common),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", line=style, showlegend=False, **common),
            row=1,
            col=2,
        )
        shown.add(method)
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "grey", "dash": "dot"}, name="random"),
        row=1,
        col=1,
    )
    figure.update_xaxes(title_text="false positive rate", range=[0, 1], row=1, col=1)
    figure.update_yaxes(title_text="true positive rate", range=[0, 1], row=1, col=1)
    figure.update_xaxes(title_text="recall", range=[0, 1], row=1, col=2)
    figure.update_yaxes(title_text="precision", rangemode="tozero", row=1, col=2)
    figure.update_layout(template="simple_white")
    return apply_layout(figure, title, headroom=SUBPLOT_TITLE_ROOM, height=420)
