"""Labelled TF–gene pairs to train and score supervised models: from a prior, or BEELINE's splits.

Positives are known links; negatives are pairs of the same TFs with genes they are not known to
regulate ("hard" negatives: a model cannot tell them apart by the TF alone). A random split of pairs
puts most TFs in both training and test, so a model can score test pairs by how often their TF was
positive in training; :func:`tf_aware_split` keeps each TF in one part only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gridapp.core.beeline import PARTS
from gridapp.core.errors import GridappError

PAIR_COLUMNS = ["TF", "target", "label"]


def labelled_pairs(
    prior: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
    *,
    negatives_per_positive: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Known links among ``tfs`` × ``genes`` (label 1) and as many sampled non-links of the same TFs (label 0).

    Parameters
    ----------
    prior
        ``TF, target`` links taken as true.
    tfs, genes
        Regulators and genes of the data; pairs outside them, and self-pairs, are dropped.
    negatives_per_positive
        Negatives drawn per positive of each TF (fewer when the TF has fewer non-targets).
    seed
        Seeds the negative sampling.
    """
    gene_set, tf_set = set(genes), set(tfs)
    known = prior[prior["TF"].isin(tf_set) & prior["target"].isin(gene_set) & (prior["TF"] != prior["target"])]
    known = known[["TF", "target"]].drop_duplicates()
    if known.empty:
        raise GridappError(
            "No link of the training prior joins a TF and a gene of these data.",
            "Check that the prior uses the same gene symbols and species, or choose another prior.",
        )
    rng = np.random.default_rng(seed)
    ordered = np.array(sorted(gene_set), dtype=object)
    negatives = []
    for tf, targets in known.groupby("TF", sort=True)["target"]:
        candidates = ordered[~np.isin(ordered, [*targets, tf])]
        n = min(len(candidates), round(negatives_per_positive * len(targets)))
        negatives.append(pd.DataFrame({"TF": tf, "target": rng.choice(candidates, n, replace=False)}))
    return pd.concat([known.assign(label=True), *(part.assign(label=False) for part in negatives)], ignore_index=True)[
        PAIR_COLUMNS
    ]


def tf_aware_split(split: dict[str, pd.DataFrame], *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Re-deal a split's labelled pairs so that no TF is in two parts, otherwise as the split was made.

    TFs are shuffled and dealt to ``Train``, ``Validation`` and ``Test`` until each part holds about the
    share of the positive pairs that it holds in ``split``. The test part keeps every pair of its TFs;
    training and validation keep their TFs' positives and sample their negatives down to the part's
    positive rate in ``split``, so a split whose training pairs were balanced stays balanced and both
    splits train on about as many pairs: they differ only in whether test TFs were seen in training.

    Parameters
    ----------
    split
        ``{"Train": pairs, "Validation": pairs, "Test": pairs}``, each with ``TF, target, label``.
    seed
        Seeds the dealing and the negative sampling.

    Returns
    -------
    The re-dealt parts, same keys.
    """
    pairs = pd.concat([split[name] for name in PARTS], ignore_index=True)
    positives = pairs.groupby("TF")["label"].sum()
    if len(positives) < 3:
        raise GridappError(f"A TF-aware split needs at least 3 TFs with pairs, got {len(positives)}.")
    rng = np.random.default_rng(seed)
    order = positives.index.to_numpy()[rng.permutation(len(positives))]
    shares = np.array([split[name]["label"].sum() for name in PARTS], dtype=float)
    cumulative = np.cumsum(positives.loc[order].to_numpy()) / max(positives.sum(), 1)
    part = np.searchsorted(np.cumsum(shares / max(shares.sum(), 1))[:2], cumulative, side="left")
    part[0], part[-1] = 0, 2  # every part gets a TF
    if not (part == 1).any():
        part[-2] = 1
    owner = pd.Series(np.array(PARTS)[part], index=order)
    dealt = {name: pairs[pairs["TF"].map(owner) == name] for name in PARTS}
    for name in PARTS[:2]:
        dealt[name] = _at_positive_rate(dealt[name], split[name]["label"].mean(), rng)
    return {name: part.reset_index(drop=True) for name, part in dealt.items()}


def _at_positive_rate(pairs: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    """``pairs`` with its negatives sampled down (never up) so that about ``rate`` of them are positive."""
    positive = pairs["label"].to_numpy(bool)
    negatives = np.flatnonzero(~positive)
    wanted = len(negatives) if rate <= 0 else round(positive.sum() * (1 - rate) / rate)
    kept = np.sort(rng.choice(negatives, min(wanted, len(negatives)), replace=False))
    return pairs.iloc[np.sort(np.concatenate([np.flatnonzero(positive), kept]))]
