"""Mean TF expression per cell type, as a heatmap or a dot plot."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def tf_expression(table: pd.DataFrame, *, detected: pd.DataFrame | None = None, dots: bool = False) -> go.Figure:
    """TFs × cell types from a cell types × TFs table of mean expression.

    With ``dots`` and a ``detected`` table (fraction of cells expressing each TF), draws a dot
    plot: colour = mean expression, size = fraction detected.
    """
    shown = table.T
    if dots and detected is not None:
        fraction = detected.T.loc[shown.index, shown.columns]
        long = shown.stack().rename("mean").to_frame().join(fraction.stack().rename("fraction"))
        figure = go.Figure(
            go.Scatter(
                x=long.index.get_level_values(1),
                y=long.index.get_level_values(0),
                mode="markers",
                marker={
                    "size": 4 + 20 * long["fraction"],
                    "color": long["mean"],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": "mean"},
                },
                hovertemplate="%{y} in %{x}<br>mean %{marker.color:.3g}<extra></extra>",
            )
        )
    else:
        figure = go.Figure(
            go.Heatmap(
                z=shown.to_numpy(),
                x=list(shown.columns),
                y=list(shown.index),
                colorscale="Viridis",
                colorbar={"title": "mean"},
            )
        )
    figure.update_layout(
        title="TF expression per cell type",
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure
