"""Mean TF expression per cell type, as a heatmap or a dot plot."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from gridapp.figures.base import apply_layout, colour_bar, marked_labels, outline, pointer


def tf_expression(
    table: pd.DataFrame,
    *,
    detected: pd.DataFrame | None = None,
    dots: bool = False,
    mark: str | None = None,
    title: str = "TF expression per cell type",
) -> go.Figure:
    """TFs × cell types from a cell types × TFs table of mean expression.

    Parameters
    ----------
    table
        Cell types × TFs mean expression.
    detected
        Cell types × TFs fraction of cells expressing each TF; with ``dots``, draws a dot plot: colour =
        mean expression, size = fraction detected.
    dots
        Draw a dot plot rather than a heatmap (needs ``detected``).
    mark
        A TF (row) to mark: outlined, pointed at (◀) from the right and its label bold; ignored when not
        in ``table``.
    title
        The figure's title.

    Returns
    -------
    The figure; TFs run down the y axis in ``table``'s column order.
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
                    "colorbar": colour_bar("mean"),
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
                colorbar=colour_bar("mean"),
            )
        )
    tfs = list(shown.index)
    figure.update_layout(
        xaxis={"categoryorder": "array", "categoryarray": list(shown.columns)},
        # the marked TF's label in bold; on a category axis a tick's position is its index
        yaxis={
            "autorange": "reversed",
            "categoryorder": "array",
            "categoryarray": tfs,
            "tickvals": list(range(len(tfs))),
            "ticktext": marked_labels(tfs, mark),
        },
    )
    if mark in tfs:
        _mark_row(figure, tfs.index(mark), shown.shape[1])
    return apply_layout(figure, title)


def _mark_row(figure: go.Figure, row: int, n_columns: int) -> None:
    """Outline row ``row`` (a TF) and point at it (◀) from the right of the plot."""
    figure.add_shape(outline(xref="x", yref="y", x=(-0.5, n_columns - 0.5), y=(row - 0.5, row + 0.5)))
    figure.add_annotation(pointer("◀", x=1, y=row, xref="paper", yref="y", xanchor="left", xshift=2))
