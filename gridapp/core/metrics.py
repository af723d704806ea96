"""Score an inferred network against known TF → target pairs (AUROC, AUPRC)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from gridapp.core.errors import GridappError


def candidate_scores(
    adjacencies: pd.DataFrame, truth: pd.DataFrame, *, tfs: Sequence[str], genes: Sequence[str]
) -> pd.DataFrame:
    """Every candidate pair with its score and label, as BEELINE scores a network.

    Candidates are the TFs of ``truth`` that are in ``tfs`` × every gene of ``genes``, self-pairs
    left out; a pair the network does not contain scores 0 (below every inferred edge).

    Parameters
    ----------
    adjacencies
        ``TF, target, importance``.
    truth
        Known pairs, columns ``TF`` and ``target``.
    tfs, genes
        Regulators and genes of the data the network was inferred from.
    """
    regulators = sorted(set(truth["TF"]) & set(tfs))
    if not regulators:
        raise GridappError("No TF of the ground truth is among the data's TFs.", "Check species and gene names.")
    pairs = pd.MultiIndex.from_product([regulators, list(dict.fromkeys(genes))], names=["TF", "target"])
    pairs = pairs[pairs.get_level_values(0) != pairs.get_level_values(1)]
    score = adjacencies.groupby(["TF", "target"])["importance"].max().reindex(pairs, fill_value=0.0)
    known = pd.MultiIndex.from_frame(truth[["TF", "target"]])
    return pd.DataFrame({"score": score.to_numpy(), "label": pairs.isin(known)}, index=pairs)


def auroc_auprc(adjacencies: pd.DataFrame, truth: pd.DataFrame, *, tfs: Sequence[str], genes: Sequence[str]) -> dict:
    """AUROC, AUPRC and the AUPRC of a random ranking (the fraction of true pairs) over :func:`candidate_scores`."""
    table = candidate_scores(adjacencies, truth, tfs=tfs, genes=genes)
    labels = table["label"].to_numpy()
    if labels.all() or not labels.any():
        raise GridappError("The ground truth leaves only one class among the candidate pairs.")
    return {
        "auroc": float(roc_auc_score(labels, table["score"])),
        "auprc": float(average_precision_score(labels, table["score"])),
        "random_auprc": float(np.mean(labels)),
        "candidates": len(table),
        "true_pairs": int(labels.sum()),
    }
