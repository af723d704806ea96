"""Consensus of several inference runs (different seeds): how often each edge and regulon recurs.

SCENIC's authors advise many runs because single GRNBoost2 runs are unstable. An edge *occurs* in a
run when the run lists it (a TF never used in a target's trees gets no edge); a regulon occurs when
the run produces a regulon of that name, and a target occurs in it when it is among that run's
targets of the regulon. Consensus keeps what occurs in at least ``min_occurrence`` of the runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from ctxcore.genesig import Regulon

from gridapp.core.methods.registry import ADJACENCY_COLUMNS


def consensus_adjacencies(runs: Sequence[pd.DataFrame], *, min_occurrence: float = 0.8) -> pd.DataFrame:
    """Edges listed by at least ``min_occurrence`` of ``runs``, importance = mean over all runs.

    Parameters
    ----------
    runs
        Adjacencies (``TF, target, importance``) of each run.
    min_occurrence
        Fraction of runs an edge must occur in.

    Returns
    -------
    ``TF, target, importance, occurrence`` sorted by decreasing importance; a run that does not
    list an edge counts as importance 0 in the mean.
    """
    stacked = pd.concat([run[ADJACENCY_COLUMNS] for run in runs], ignore_index=True)
    grouped = stacked.groupby(["TF", "target"], sort=False)["importance"]
    table = pd.DataFrame({"importance": grouped.sum() / len(runs), "occurrence": grouped.size() / len(runs)})
    table = table[table["occurrence"] >= min_occurrence - 1e-9].reset_index()
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["runs"] = len(runs)
    return table


def consensus_regulons(
    runs: Sequence[Sequence[Regulon]], *, min_occurrence: float = 0.8, min_genes: int = 1
) -> tuple[list[Regulon], pd.DataFrame]:
    """Regulons recurring in at least ``min_occurrence`` of ``runs``, each with its recurring targets.

    A consensus regulon keeps the targets found in at least ``min_occurrence`` of the runs (weight =
    mean weight over the runs that found it) and is dropped when fewer than ``min_genes`` remain.

    Returns
    -------
    The consensus regulons and a table (one row per regulon name seen in any run) with columns
    ``regulon, occurrence, n_targets`` (``n_targets`` = 0 when the regulon was dropped).
    """
    targets: dict[str, dict[str, list[float]]] = {}
    first: dict[str, Regulon] = {}
    for regulons in runs:
        for regulon in regulons:
            first.setdefault(regulon.name, regulon)
            genes = targets.setdefault(regulon.name, {})
            for gene, weight in regulon.gene2weight.items():
                genes.setdefault(gene, []).append(weight)
    occurrence = {name: sum(any(r.name == name for r in regulons) for regulons in runs) / len(runs) for name in first}
    kept, rows = [], []
    for name, genes in targets.items():
        recurring = {g: sum(w) / len(w) for g, w in genes.items() if len(w) / len(runs) >= min_occurrence - 1e-9}
        keep = occurrence[name] >= min_occurrence - 1e-9 and len(recurring) >= min_genes
        if keep:
            kept.append(first[name].copy(gene2weight=recurring, gene2occurrence={}))
        rows.append({"regulon": name, "occurrence": occurrence[name], "n_targets": len(recurring) if keep else 0})
    summary = pd.DataFrame(rows, columns=["regulon", "occurrence", "n_targets"])
    return kept, summary.sort_values(["occurrence", "regulon"], ascending=[False, True], ignore_index=True)
