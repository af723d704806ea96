"""Cytoscape elements for a TF → target subnetwork, positioned server-side (preset layout)."""

from __future__ import annotations

import numpy as np
import pandas as pd

STYLESHEET = [
    {
        "selector": "node",
        "style": {"label": "data(id)", "font-size": 9, "width": 12, "height": 12, "background-color": "#9aa5b1"},
    },
    {
        "selector": "node.tf",
        "style": {"shape": "diamond", "width": 22, "height": 22, "background-color": "#d62728", "font-weight": "bold"},
    },
    {"selector": "node.focus", "style": {"border-width": 3, "border-color": "#111"}},
    {
        "selector": "edge",
        "style": {
            "width": "data(width)",
            "line-color": "#b0b8c1",
            "curve-style": "straight",
            "target-arrow-shape": "triangle",
            "target-arrow-color": "#b0b8c1",
            "arrow-scale": 0.6,
            "opacity": 0.8,
        },
    },
    # a signed method's links are coloured by sign; repressing ones (negative coefficient) are dashed and
    # end in a bar, as in pathway diagrams; a link in the prior is green whatever its sign
    {"selector": "edge.activating", "style": {"line-color": "#e08214", "target-arrow-color": "#e08214"}},
    {
        "selector": "edge.repressing",
        "style": {
            "line-color": "#5e3c99",
            "target-arrow-color": "#5e3c99",
            "target-arrow-shape": "tee",
            "line-style": "dashed",
        },
    },
    {"selector": "edge.in_prior", "style": {"line-color": "#2ca02c", "target-arrow-color": "#2ca02c"}},
]


def network_elements(edges: pd.DataFrame, *, focus: tuple[str, ...] = ()) -> list[dict]:
    """Nodes and edges for dash-cytoscape with preset positions.

    TFs sit on an inner circle, targets on an outer one, each target near its strongest TF; edge
    width grows with importance. ``edges`` has ``TF, target, importance`` and optionally
    ``in_prior``, ``status`` (``kept``/``gained``/``lost`` of a rewiring) and ``coefficient`` (a signed
    method's: ``activating`` when positive, ``repressing`` when negative), all edge classes.
    """
    if edges.empty:
        return []
    tfs = list(dict.fromkeys(edges["TF"]))
    targets = [g for g in dict.fromkeys(edges["target"]) if g not in set(tfs)]
    positions = _radial_positions(edges, tfs, targets)
    nodes = [
        {
            "data": {"id": gene},
            "position": positions[gene],
            "classes": " ".join(c for c, on in (("tf", gene in set(tfs)), ("focus", gene in focus)) if on),
        }
        for gene in [*tfs, *targets]
    ]
    importance = edges["importance"].to_numpy(dtype=float)
    span = importance.max() - importance.min() or 1.0
    widths = 1 + 5 * (importance - importance.min()) / span
    in_prior = edges["in_prior"].to_numpy() if "in_prior" in edges else np.zeros(len(edges), dtype=bool)
    occurrence = edges["occurrence"].to_numpy(dtype=float) if "occurrence" in edges else np.ones(len(edges))
    status = edges["status"].tolist() if "status" in edges else [""] * len(edges)
    sign = np.sign(edges["coefficient"].to_numpy()).astype(int) if "coefficient" in edges else np.zeros(len(edges))
    sign_class = {1: "activating", -1: "repressing", 0: ""}
    links = [
        {
            "data": {"source": tf, "target": target, "importance": float(w), "width": float(width), "occurrence": o},
            "classes": " ".join(c for c in ("in_prior" if prior else "", change, sign_class[s]) if c),
        }
        for tf, target, w, width, prior, o, change, s in zip(
            edges["TF"], edges["target"], importance, widths, in_prior, occurrence.tolist(), status, sign.tolist()
        )
    ]
    return nodes + links


def _radial_positions(edges: pd.DataFrame, tfs: list[str], targets: list[str]) -> dict[str, dict[str, float]]:
    inner = 60.0 + 25.0 * len(tfs)
    outer = inner + 120.0 + 2.0 * len(targets) ** 0.5 * 10
    tf_angle = {tf: 2 * np.pi * i / len(tfs) for i, tf in enumerate(tfs)}
    positions = {tf: _point(inner if len(tfs) > 1 else 0.0, angle) for tf, angle in tf_angle.items()}
    strongest = edges.drop_duplicates("target").set_index("target")["TF"]
    order = sorted(targets, key=lambda gene: (tf_angle[strongest[gene]], gene))
    for i, gene in enumerate(order):
        positions[gene] = _point(outer, 2 * np.pi * i / max(len(order), 1))
    return positions


def _point(radius: float, angle: float) -> dict[str, float]:
    return {"x": round(radius * float(np.cos(angle)), 1), "y": round(radius * float(np.sin(angle)), 1)}
