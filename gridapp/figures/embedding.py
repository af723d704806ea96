"""Cells on an embedding of the AUC matrix, coloured by a category or a value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from gridapp.figures.base import apply_layout, colour_bar


def embedding_scatter(
    coordinates: np.ndarray,
    colour: pd.Series,
    *,
    title: str,
    selected: Sequence[int] | None = None,
) -> go.Figure:
    """Scatter of cells (``coordinates``: cells × 2) coloured by ``colour``.

    A categorical (or text) ``colour`` gives one trace per category; a numeric one a colour scale, whose
    title (``colour``'s name, e.g. ``AUC: SPI1(+)``) runs up the colour bar so that a long one fits.
    ``selected`` positions are highlighted and the rest dimmed. Each point's ``customdata`` is its
    cell position, so lasso selections map back to cells.
    """
    positions = np.arange(len(colour))
    traces = []
    if isinstance(colour.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(colour):
        palette = px.colors.qualitative.Plotly
        for i, category in enumerate(pd.unique(colour.astype(str))):
            mask = (colour.astype(str) == category).to_numpy()
            traces.append(
                go.Scattergl(
                    x=coordinates[mask, 0],
                    y=coordinates[mask, 1],
                    mode="markers",
                    name=category,
                    customdata=positions[mask].tolist(),  # plain JSON: dcc.Graph reads customdata back by index
                    marker={"size": 4, "color": palette[i % len(palette)]},
                    selectedpoints=_within(positions[mask], selected),
                )
            )
    else:
        traces.append(
            go.Scattergl(
                x=coordinates[:, 0],
                y=coordinates[:, 1],
                mode="markers",
                name=str(colour.name),
                customdata=positions.tolist(),
                selectedpoints=_within(positions, selected),
                marker={
                    "size": 4,
                    "color": colour.to_numpy(),
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": colour_bar(str(colour.name)),
                },
            )
        )
    figure = go.Figure(traces)
    figure.update_layout(
        dragmode="lasso",
        uirevision="cells",  # a redraw (new colouring, highlight) keeps the user's zoom and lasso
        legend={"itemsizing": "constant"},
        xaxis={"showticklabels": False},
        yaxis={"showticklabels": False},
    )
    return apply_layout(figure, title)


def _within(positions: np.ndarray, selected: Sequence[int] | None) -> list[int] | None:
    """Indices (within one trace) of the selected cells, or None when nothing is selected."""
    if not selected:
        return None
    return list(np.flatnonzero(np.isin(positions, list(selected))))
