"""Figures of a comparison: volcano per cell type, cell type × regulon deltas, embedding split by group,
and the rewired network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gridapp.figures.base import SUBPLOT_TITLE_ROOM, apply_layout, colour_bar, placeholder
from gridapp.figures.network import network_elements

#: q-value below which a regulon counts as differentially active in the figures
SIGNIFICANT = 0.05
#: what each Compare view says before it has something to show
EMPTY = {
    "volcano": "Compare two conditions (above): each regulon's change in activity per cell type appears here.",
    "delta_heatmap": "The cell type × regulon change in activity of a two-condition comparison appears here.",
    "split_embedding": "Select a regulon (click the volcano or the heatmap): its activity per condition appears here.",
}


def volcano(differential: pd.DataFrame, cell_type: str, *, selected: str | None = None) -> go.Figure:
    """Delta of mean AUC (b − a) against −log10 p for one cell type's regulons; ``customdata`` = regulon.

    Regulons with q < :data:`SIGNIFICANT` are coloured by direction; ``selected`` is ringed.
    """
    table = differential[differential["cell_type"] == cell_type]
    if table.empty:
        return placeholder(f"No regulon was tested in {cell_type}")
    group_a, group_b = table["group_a"].iloc[0], table["group_b"].iloc[0]
    significant = table["qvalue"] < SIGNIFICANT
    colour = np.where(~significant, "#9aa5b1", np.where(table["delta"] > 0, "#d62728", "#1f77b4"))
    figure = go.Figure(
        go.Scatter(
            x=table["delta"],
            y=-np.log10(table["pvalue"].clip(lower=1e-300)),
            mode="markers+text",
            text=[name if sig else "" for name, sig in zip(table["regulon"], significant)],
            textposition="top center",
            customdata=table["regulon"].tolist(),
            marker={
                "size": 9,
                "color": colour.tolist(),
                "line": {"width": [3 if r == selected else 0 for r in table["regulon"]], "color": "#111"},
            },
            hovertemplate="%{customdata}<br>Δ AUC %{x:.3f}<br>−log10 p %{y:.2f}<extra></extra>",
        )
    )
    figure.add_vline(x=0, line={"color": "#52606d", "width": 1})
    figure.update_layout(xaxis_title=f"Δ mean AUC ({group_b} − {group_a})", yaxis_title="−log10 p", clickmode="event")
    return apply_layout(
        figure,
        f"{cell_type}: {group_b} vs {group_a}, {int(significant.sum())} with q < {SIGNIFICANT} "
        f"({table['test'].iloc[0]})",
    )


def delta_heatmap(differential: pd.DataFrame) -> go.Figure:
    """Cell type × regulon delta of mean AUC, diverging around 0, with ``*`` (q < 0.05) and ``**`` (q < 0.01)."""
    if differential.empty:
        return placeholder("No differential activity to show")
    delta = differential.pivot(index="cell_type", columns="regulon", values="delta")
    qvalue = differential.pivot(index="cell_type", columns="regulon", values="qvalue").reindex_like(delta)
    marks = np.where(qvalue < 0.01, "**", np.where(qvalue < SIGNIFICANT, "*", ""))
    limit = float(np.nanmax(np.abs(delta.to_numpy()))) or 1.0
    group_a, group_b = differential["group_a"].iloc[0], differential["group_b"].iloc[0]
    figure = go.Figure(
        go.Heatmap(
            z=delta.to_numpy(),
            x=delta.columns.tolist(),
            y=delta.index.tolist(),
            text=marks,
            texttemplate="%{text}",
            colorscale="RdBu_r",
            zmin=-limit,
            zmax=limit,
            colorbar=colour_bar("Δ AUC"),
            hovertemplate="%{y} · %{x}<br>Δ AUC %{z:.3f} %{text}<extra></extra>",
        )
    )
    figure.update_layout(xaxis={"tickangle": -60})
    return apply_layout(figure, f"Δ mean AUC, {group_b} − {group_a} (* q < {SIGNIFICANT}, ** q < 0.01)")


def split_embedding(coordinates: np.ndarray, values: pd.Series, groups: pd.Series, order: list[str]) -> go.Figure:
    """One embedding panel per group (same axes, same colour range), cells coloured by ``values``."""
    figure = make_subplots(cols=len(order), subplot_titles=order, shared_xaxes=True, shared_yaxes=True)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    for column, group in enumerate(order, start=1):
        mask = (groups.astype(str) == group).to_numpy()
        figure.add_trace(
            go.Scattergl(
                x=coordinates[mask, 0],
                y=coordinates[mask, 1],
                mode="markers",
                name=group,
                marker={
                    "size": 4,
                    "color": values.to_numpy()[mask],
                    "colorscale": "Viridis",
                    "cmin": low,
                    "cmax": high,
                    "showscale": column == len(order),
                    "colorbar": colour_bar(str(values.name)),
                },
            ),
            row=1,
            col=column,
        )
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False)
    figure.update_layout(showlegend=False)
    return apply_layout(figure, str(values.name), headroom=SUBPLOT_TITLE_ROOM)


#: Cytoscape styles of rewired edges (added to :data:`gridapp.figures.network.STYLESHEET`)
REWIRING_STYLES = [
    {"selector": "edge.gained", "style": {"line-color": "#d62728", "target-arrow-color": "#d62728"}},
    {
        "selector": "edge.lost",
        "style": {"line-color": "#1f77b4", "target-arrow-color": "#1f77b4", "line-style": "dashed"},
    },
]


def rewiring_elements(edges: pd.DataFrame, *, focus: tuple[str, ...] = (), max_edges: int = 300) -> list[dict]:
    """The rewired network: edges of ``focus`` TFs (or the strongest of all), gained red, lost dashed blue.

    ``edges`` is :attr:`gridapp.core.compare.Rewiring.edges`; an edge's width follows the larger of its
    two importances.
    """
    chosen = edges[edges["TF"].isin(focus)] if focus else edges
    chosen = (
        chosen.assign(importance=chosen[["importance_a", "importance_b"]].max(axis=1))
        .sort_values("importance", ascending=False)
        .head(max_edges)
    )
    return network_elements(chosen, focus=focus)
