"""Cytoscape elements for a TF → target subnetwork, positioned server-side (preset layout), with the
stylesheet that draws them and the legend that explains it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

TF_COLOUR = "#d62728"
TARGET_COLOUR = "#9aa5b1"
EDGE_COLOUR = "#b0b8c1"
PRIOR_COLOUR = "#2ca02c"
ACTIVATING_COLOUR = "#e08214"
REPRESSING_COLOUR = "#5e3c99"
FOCUS_COLOUR = "#111111"
FOUND_COLOUR = "#f5a700"
#: how many of each TF's strongest targets :func:`network_elements` labels at every zoom (class ``top``)
TOP_TARGETS = 3

# Font sizes are in graph units, so a label shrinks with the zoom. assets/network.js keeps the labels of TFs,
# top targets and the hovered or searched gene at a constant size on screen when zoomed out, and gives every
# node the class ``far`` while the other labels would be under 10 px (GENE_LABEL_ZOOM there), hiding them.
# Without that script, ``min-zoomed-font-size`` hides them instead, less exactly: Cytoscape compares it with
# the font size times the zoom rounded up to a power of two, so 20 keeps 11-unit labels off until zoom 1.
_ALWAYS_LABELLED = {"min-zoomed-font-size": 0, "text-opacity": 1, "z-index": 10}
STYLESHEET = [
    {
        "selector": "node",
        "style": {
            "label": "data(id)",
            "font-size": 11,
            "min-zoomed-font-size": 20,
            "color": "#1f2933",
            "text-outline-color": "#ffffff",
            "text-outline-width": 2,
            "text-valign": "top",
            "text-margin-y": -2,
            "width": 12,
            "height": 12,
            "background-color": TARGET_COLOUR,
        },
    },
    {"selector": "node.far", "style": {"text-opacity": 0}},
    {
        "selector": "node.tf",
        "style": {
            "shape": "diamond",
            "width": 22,
            "height": 22,
            "background-color": TF_COLOUR,
            "font-weight": "bold",
            "font-size": 13,
            **_ALWAYS_LABELLED,
            "z-index": 15,  # a TF's label over its targets' where they meet
        },
    },
    {"selector": "node.top", "style": _ALWAYS_LABELLED},
    {"selector": "node.focus", "style": {"border-width": 3, "border-color": FOCUS_COLOUR}},
    {"selector": "node.hover", "style": {**_ALWAYS_LABELLED, "z-index": 20}},
    {
        "selector": "node.found",
        "style": {**_ALWAYS_LABELLED, "z-index": 20, "border-width": 5, "border-color": FOUND_COLOUR},
    },
    {
        "selector": "edge",
        "style": {
            "width": "data(width)",
            "line-color": EDGE_COLOUR,
            "curve-style": "straight",
            "target-arrow-shape": "triangle",
            "target-arrow-color": EDGE_COLOUR,
            "arrow-scale": 0.6,
            "opacity": 0.7,
        },
    },
    # a signed method's links are coloured by sign; repressing ones (negative coefficient) are dashed and
    # end in a bar, as in pathway diagrams; a link in the prior is green whatever its sign
    {
        "selector": "edge.activating",
        "style": {"line-color": ACTIVATING_COLOUR, "target-arrow-color": ACTIVATING_COLOUR},
    },
    {
        "selector": "edge.repressing",
        "style": {
            "line-color": REPRESSING_COLOUR,
            "target-arrow-color": REPRESSING_COLOUR,
            "target-arrow-shape": "tee",
            "line-style": "dashed",
        },
    },
    {"selector": "edge.in_prior", "style": {"line-color": PRIOR_COLOUR, "target-arrow-color": PRIOR_COLOUR}},
    {"selector": "edge.hover", "style": {"opacity": 1, "z-index": 20}},
]


class LegendEntry(NamedTuple):
    """One line of the network's legend: what a mark means and the CSS that draws a small sample of it."""

    label: str
    swatch: dict[str, str]


def _line(colour: str, width: int = 2, style: str = "solid") -> dict[str, str]:
    return {"width": "22px", "height": "0", "border-top": f"{width}px {style} {colour}"}


def _dot(colour: str, border: str = "none") -> dict[str, str]:
    return {"width": "10px", "height": "10px", "border-radius": "50%", "background": colour, "border": border}


#: the legend of :data:`STYLESHEET`, drawn beside the graph (gridapp/app/network_panel.py)
LEGEND = [
    LegendEntry("TF", {"width": "9px", "height": "9px", "background": TF_COLOUR, "transform": "rotate(45deg)"}),
    LegendEntry("target gene", _dot(TARGET_COLOUR)),
    LegendEntry("selected TF (focus ring)", _dot(TF_COLOUR, f"2px solid {FOCUS_COLOUR}")),
    LegendEntry("searched gene", _dot(TARGET_COLOUR, f"2px solid {FOUND_COLOUR}")),
    LegendEntry("edge width = importance", _line(EDGE_COLOUR, 5)),
    LegendEntry("green = in the prior", _line(PRIOR_COLOUR)),
    LegendEntry("activating (signed methods)", _line(ACTIVATING_COLOUR)),
    LegendEntry("dashed = repressing (signed methods)", _line(REPRESSING_COLOUR, 2, "dashed")),
]


def network_elements(edges: pd.DataFrame, *, focus: tuple[str, ...] = (), top: int = 0) -> list[dict]:
    """Nodes and edges for dash-cytoscape with preset positions.

    TFs sit on an inner circle (a ``focus`` TF in its centre, as does a lone TF), targets on an outer one,
    each target near its strongest TF; edge width grows with importance.

    Parameters
    ----------
    edges
        ``TF, target, importance`` and optionally ``in_prior``, ``status`` (``kept``/``gained``/``lost`` of
        a rewiring) and ``coefficient`` (a signed method's: ``activating`` when positive, ``repressing``
        when negative), all edge classes.
    focus
        Genes given the class ``focus`` (the selected TF, ringed).
    top
        Each TF's ``top`` strongest targets get the class ``top``, labelled at every zoom
        (:data:`TOP_TARGETS` is the Explore page's choice).

    Returns
    -------
    list of dict
        Nodes (``data.id``; ``data.importance``, the node's strongest link; ``data.hops``, links away from
        a ``focus`` gene, or from a TF without one, in either direction; ``data.radial``, its preset
        position again: Cytoscape moves the ``position`` it was given when another layout runs, and the
        radial layout of assets/network.js puts it back from there; ``position``; ``classes``) followed by
        edges (``data.source``, ``target``, ``importance``, ``width``, ``occurrence``; ``classes``).
    """
    if edges.empty:
        return []
    tfs = list(dict.fromkeys(edges["TF"]))
    tf_set = set(tfs)
    targets = [g for g in dict.fromkeys(edges["target"]) if g not in tf_set]
    centre = next((gene for gene in focus if gene in tf_set), tfs[0] if len(tfs) == 1 else None)
    positions = _radial_positions(edges, tfs, targets, centre)
    strongest = _strongest_link(edges)
    top_targets = _top_targets(edges, top)
    hops = _hops(edges, [gene for gene in focus if gene in strongest] or tfs)
    nodes = [
        {
            "data": {"id": gene, "importance": strongest[gene], "hops": hops[gene], "radial": dict(positions[gene])},
            "position": positions[gene],
            "classes": _node_classes(gene in tf_set, gene in top_targets, gene in focus),
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


def _node_classes(tf: bool, top: bool, focus: bool) -> str:
    return " ".join(name for name, on in (("tf", tf), ("top", top), ("focus", focus)) if on)


def _strongest_link(edges: pd.DataFrame) -> dict[str, float]:
    """Each gene's largest importance over its links, in or out."""
    both = pd.concat(
        [
            edges[["TF", "importance"]].rename(columns={"TF": "gene"}),
            edges[["target", "importance"]].rename(columns={"target": "gene"}),
        ]
    )
    return {gene: float(value) for gene, value in both.groupby("gene", sort=False)["importance"].max().items()}


def _hops(edges: pd.DataFrame, roots: list[str]) -> dict[str, int]:
    """Links from the nearest of ``roots`` to each gene, either way along a link (as the Explore page counts
    hops); a gene no path reaches is one further than the farthest reached."""
    neighbours: dict[str, set[str]] = {}
    for tf, target in zip(edges["TF"], edges["target"]):
        neighbours.setdefault(tf, set()).add(target)
        neighbours.setdefault(target, set()).add(tf)
    hops = dict.fromkeys(roots, 0)
    frontier = list(hops)
    while frontier:
        reached = []
        for gene in frontier:
            for other in neighbours[gene].difference(hops):
                hops[other] = hops[gene] + 1
                reached.append(other)
        frontier = reached
    unreached = max(hops.values()) + 1
    return {gene: hops.get(gene, unreached) for gene in neighbours}


def _top_targets(edges: pd.DataFrame, top: int) -> set[str]:
    """The targets among the ``top`` strongest links of some TF."""
    if top <= 0:
        return set()
    strongest = edges.sort_values("importance", ascending=False, kind="stable").groupby("TF", sort=False).head(top)
    return set(strongest["target"])


def _radial_positions(
    edges: pd.DataFrame, tfs: list[str], targets: list[str], centre: str | None
) -> dict[str, dict[str, float]]:
    """``centre`` (a TF, or none) at the origin, the other TFs on an inner circle, the targets on an outer one
    ordered by their strongest TF's angle."""
    ring = [tf for tf in tfs if tf != centre]
    inner = 60.0 + 25.0 * len(ring)
    outer = inner + 120.0 + 2.0 * len(targets) ** 0.5 * 10
    tf_angle = {tf: 2 * np.pi * i / len(ring) for i, tf in enumerate(ring)}
    positions = {tf: _point(inner, angle) for tf, angle in tf_angle.items()}
    if centre is not None:
        tf_angle[centre] = 0.0
        positions[centre] = _point(0.0, 0.0)
    strongest = edges.drop_duplicates("target").set_index("target")["TF"]
    order = sorted(targets, key=lambda gene: (tf_angle[strongest[gene]], gene))
    for i, gene in enumerate(order):
        positions[gene] = _point(outer, 2 * np.pi * i / max(len(order), 1))
    return positions


def _point(radius: float, angle: float) -> dict[str, float]:
    return {"x": round(radius * float(np.cos(angle)), 1), "y": round(radius * float(np.sin(angle)), 1)}
