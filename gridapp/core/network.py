"""Choosing the edges a user trusts: importance threshold, top-N targets per TF, focus on TFs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Most edges a network view draws; the rest are counted and reported.
MAX_SHOWN_EDGES = 2000


@dataclass(frozen=True)
class EdgeSelection:
    """Edges kept by a threshold and a focus, with what was left out."""

    edges: pd.DataFrame
    n_above_threshold: int
    n_left_out: int


def edges_above(
    adjacencies: pd.DataFrame,
    importance_threshold: float,
    *,
    top_n_per_tf: int | None = None,
    min_occurrence: float = 0.0,
) -> pd.DataFrame:
    """Edges with ``importance >= importance_threshold``, optionally only each TF's ``top_n_per_tf`` best.

    ``adjacencies`` must be sorted by decreasing importance (as :func:`gridapp.core.methods.infer`
    returns it); the result keeps that order. A consensus of several runs (an ``occurrence``
    column) keeps only edges found in at least ``min_occurrence`` of the runs.
    """
    importance = adjacencies["importance"].to_numpy()
    # sorted descending: the kept edges are a prefix
    kept = adjacencies.iloc[: int(np.searchsorted(-importance, -importance_threshold, side="right"))]
    if min_occurrence > 0 and "occurrence" in kept:
        kept = kept[kept["occurrence"].to_numpy() >= min_occurrence - 1e-9]
    if top_n_per_tf is not None:
        kept = kept[kept.groupby("TF", sort=False).cumcount() < top_n_per_tf]
    return kept


def focus_edges(edges: pd.DataFrame, focus: Iterable[str], *, hops: int = 1) -> pd.DataFrame:
    """Edges within ``hops`` of the ``focus`` genes (following edges in either direction)."""
    reached = set(focus)
    if not reached:
        return edges
    tfs, targets = edges["TF"].to_numpy(), edges["target"].to_numpy()
    touched = np.zeros(len(edges), dtype=bool)
    for _ in range(hops):
        step = np.isin(tfs, list(reached)) | np.isin(targets, list(reached))
        touched |= step
        reached |= set(tfs[step]) | set(targets[step])
    return edges[touched]


def select_edges(
    adjacencies: pd.DataFrame,
    importance_threshold: float,
    *,
    focus: Sequence[str] = (),
    hops: int = 1,
    top_n_per_tf: int | None = None,
    min_occurrence: float = 0.0,
    max_edges: int = MAX_SHOWN_EDGES,
) -> EdgeSelection:
    """The subnetwork a user sees and exports: threshold (and occurrence) → top-N per TF → focus → cap.

    Returns
    -------
    The strongest ``max_edges`` edges of the selection, the number above the threshold, and the
    number the cap left out.
    """
    kept = edges_above(adjacencies, importance_threshold, top_n_per_tf=top_n_per_tf, min_occurrence=min_occurrence)
    focused = focus_edges(kept, focus, hops=hops)
    return EdgeSelection(
        edges=focused.head(max_edges), n_above_threshold=len(kept), n_left_out=max(len(focused) - max_edges, 0)
    )


def annotate_edges(
    edges: pd.DataFrame, regulons: pd.DataFrame, prior_pairs: set[tuple[str, str]] = frozenset()
) -> pd.DataFrame:
    """Add ``regulon`` (the regulon holding the edge, empty if none) and ``in_prior`` columns."""
    membership = regulons.drop_duplicates(["TF", "target"]).set_index(["TF", "target"])["regulon"]
    index = pd.MultiIndex.from_arrays([edges["TF"], edges["target"]])
    return edges.assign(
        regulon=membership.reindex(index).fillna("").to_numpy(),
        in_prior=[pair in prior_pairs for pair in zip(edges["TF"], edges["target"])],
    )
