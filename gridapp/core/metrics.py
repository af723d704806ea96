"""Score an inferred network against known TF → target pairs, as BEELINE does (Pratapa et al. 2020).

Scoring works on a *candidate table*: every pair that could be predicted, with the network's score
and whether it is a known pair. Candidates are the TFs of the ground truth that are among the data's
TFs × every gene of the data, self-pairs left out (or, for a train/test split, exactly the split's
pairs). A pair the network does not contain is missing: it ranks below every inferred edge, and
missing pairs tie among themselves.

Metrics (:func:`score_candidates`):

``auroc``
    Area under the ROC curve (ties count half, as in the Mann–Whitney statistic).
``auprc``
    Area under the precision–recall curve by the trapezoidal rule over scikit-learn's curve, as
    BEELINE computes it; ``average_precision`` is the step-wise estimate.
``auprc_ratio``
    ``auprc`` over the AUPRC of a random ranking, i.e. the fraction of candidates that are true.
``early_precision``
    Precision among the top-k candidates, k = number of true pairs; candidates tied with the k-th are
    all kept, missing pairs never are (BEELINE's rule). ``early_precision_ratio`` divides by the random
    precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from gridapp.core.errors import GridappError

#: columns of a candidate table
CANDIDATE_COLUMNS = ["score", "label", "present"]


def candidate_scores(
    adjacencies: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    tfs: Sequence[str],
    genes: Sequence[str],
    pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every candidate pair with the network's score and its label.

    Parameters
    ----------
    adjacencies
        ``TF, target, importance`` (larger = more confident; signed methods give magnitudes).
    truth
        Known pairs, columns ``TF`` and ``target``.
    tfs, genes
        Regulators and genes of the data the network was inferred from.
    pairs
        Score only these pairs (columns ``TF``, ``target`` and, when given, ``label``), e.g. a test split;
        labels default to membership of ``truth``.

    Returns
    -------
    Indexed by ``(TF, target)``: ``score`` (missing pairs get one score below every inferred edge),
    ``label`` (bool) and ``present`` (the network contains the pair).
    """
    if pairs is None:
        regulators = sorted(set(truth["TF"]) & set(tfs))
        if not regulators:
            raise GridappError(
                "No TF of the ground truth is among the data's TFs.", "Check the species and the gene names."
            )
        index = pd.MultiIndex.from_product([regulators, list(dict.fromkeys(genes))], names=["TF", "target"])
        index = index[index.get_level_values(0) != index.get_level_values(1)]
        labels = index.isin(pd.MultiIndex.from_frame(truth[["TF", "target"]]))
    else:
        index = pd.MultiIndex.from_frame(pairs[["TF", "target"]].astype(str), names=["TF", "target"])
        if "label" in pairs:
            labels = pairs["label"].astype(bool).to_numpy()
        else:
            labels = index.isin(pd.MultiIndex.from_frame(truth[["TF", "target"]]))
    score = adjacencies.groupby(["TF", "target"])["importance"].max().reindex(index)
    present = score.notna().to_numpy()
    lowest = score.min() - 1.0 if present.any() else 0.0
    return pd.DataFrame(
        {"score": score.fillna(lowest).to_numpy(), "label": np.asarray(labels, dtype=bool), "present": present},
        index=index,
    )


def _check_classes(labels: np.ndarray) -> None:
    if labels.all() or not labels.any():
        raise GridappError(
            f"The ground truth leaves only one class among the {len(labels)} candidate pairs "
            f"({int(labels.sum())} known).",
            "Check that the network's genes and the ground truth's use the same names.",
        )


def early_precision(table: pd.DataFrame) -> float:
    """Precision among the top-k candidates (k = true pairs), BEELINE's rule for ties and missing pairs."""
    k = int(table["label"].sum())
    inferred = table[table["present"]]
    if inferred.empty or k == 0:
        return 0.0
    scores = np.sort(inferred["score"].to_numpy())[::-1]
    kth = scores[min(k, len(scores)) - 1]
    top = inferred[inferred["score"] >= kth]
    return float(top["label"].mean())


def score_candidates(table: pd.DataFrame) -> dict[str, float]:
    """AUROC, AUPRC (trapezoidal and average precision), their ratios to random, and early precision."""
    labels = table["label"].to_numpy()
    _check_classes(labels)
    scores = table["score"].to_numpy()
    precision, recall, _ = precision_recall_curve(labels, scores)
    density = float(labels.mean())
    auprc = float(auc(recall, precision))
    ep = early_precision(table)
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "auprc": auprc,
        "average_precision": float(average_precision_score(labels, scores)),
        "auprc_ratio": auprc / density,
        "early_precision": ep,
        "early_precision_ratio": ep / density,
        "random_precision": density,
        "candidates": float(len(table)),
        "true_pairs": float(labels.sum()),
        "inferred_pairs": float(table["present"].sum()),
    }


def score_network(
    adjacencies: pd.DataFrame, truth: pd.DataFrame, *, tfs: Sequence[str], genes: Sequence[str]
) -> dict[str, float]:
    """:func:`score_candidates` over every candidate pair of the data (see :func:`candidate_scores`)."""
    return score_candidates(candidate_scores(adjacencies, truth, tfs=tfs, genes=genes))


def per_tf_auroc(table: pd.DataFrame) -> pd.Series:
    """AUROC of each TF's targets (TFs with both known and unknown candidate targets), by decreasing AUROC."""
    values = {
        tf: roc_auc_score(group["label"], group["score"])
        for tf, group in table.groupby(level="TF", sort=True)
        if 0 < group["label"].sum() < len(group)
    }
    return pd.Series(values, name="auroc", dtype=float).rename_axis("TF").sort_values(ascending=False)


def precision_by_threshold(table: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall of keeping the inferred candidates with score ≥ t, for every distinct score t.

    Returns
    -------
    ``threshold, kept, true_kept, precision, recall``, by increasing threshold.
    """
    inferred = table[table["present"]]
    by_score = inferred.groupby("score")["label"].agg(["size", "sum"]).sort_index(ascending=False)
    kept = by_score["size"].cumsum().to_numpy()
    true_kept = by_score["sum"].cumsum().to_numpy()
    return (
        pd.DataFrame(
            {
                "threshold": by_score.index.to_numpy(),
                "kept": kept,
                "true_kept": true_kept,
                "precision": true_kept / kept,
                "recall": true_kept / max(int(table["label"].sum()), 1),
            }
        )
        .iloc[::-1]
        .reset_index(drop=True)
    )


def precision_at(curve: pd.DataFrame, thresholds: np.ndarray | Sequence[float]) -> pd.DataFrame:
    """Precision, recall and counts of keeping the inferred candidates with score ≥ t, for each t.

    Parameters
    ----------
    curve
        :func:`precision_by_threshold` of the candidate table.
    thresholds
        Importance thresholds; above the highest score nothing is kept (precision NaN, recall 0).
    """
    thresholds = np.asarray(thresholds, dtype=float)
    columns = ["kept", "true_kept", "precision", "recall"]
    # keeping score >= t keeps what the smallest listed threshold >= t keeps
    row = np.searchsorted(curve["threshold"].to_numpy(), thresholds, side="left")
    inside = row < len(curve)
    picked = pd.DataFrame(np.nan, index=range(len(thresholds)), columns=columns)
    picked.loc[inside, columns] = curve.iloc[row[inside]][columns].to_numpy()
    picked.loc[~inside, ["kept", "true_kept", "recall"]] = 0.0
    return picked.assign(threshold=thresholds)[["threshold", *columns]]


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` rows, evenly spaced, first and last kept."""
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))].reset_index(drop=True)


def curves(table: pd.DataFrame, max_points: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC (``fpr, tpr``) and precision–recall (``recall, precision``) curves of a candidate table.

    Each curve keeps at most ``max_points`` of its points, evenly spaced along it (for drawing).
    """
    labels, scores = table["label"].to_numpy(), table["score"].to_numpy()
    _check_classes(labels)
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return (
        _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}), max_points),
        _thin(pd.DataFrame({"recall": recall, "precision": precision}), max_points),
    )
