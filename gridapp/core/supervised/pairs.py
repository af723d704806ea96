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

from gridapp.core.errors import GridappError

PAIR_COLUMNS = ["TF", "target", "label"]
#: training / validation / test shares of a TF-aware split
SHARES = (0.6, 0.2, 0.2)


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


def tf_aware_split(pairs: pd.DataFrame, *, shares: tuple[float, float, float] = SHARES, seed: int = 0) -> dict:
    """Split pairs so that no TF appears in two parts.

    TFs are shuffled and dealt to training, validation and test until each part holds about its share of
    the pairs.

    Returns
    -------
    ``{"Train": pairs, "Validation": pairs, "Test": pairs}``.
    """
    if not np.isclose(sum(shares), 1.0) or min(shares) <= 0:
        raise ValueError(f"shares must be positive and sum to 1, got {shares}.")
    sizes = pairs.groupby("TF").size()
    if len(sizes) < 3:
        raise GridappError(f"A TF-aware split needs at least 3 TFs with pairs, got {len(sizes)}.")
    order = sizes.index.to_numpy()[np.random.default_rng(seed).permutation(len(sizes))]
    cumulative = np.cumsum(sizes.loc[order].to_numpy()) / sizes.sum()
    part = np.searchsorted(np.cumsum(shares)[:2], cumulative, side="left")
    part[0], part[-1] = 0, 2  # every part gets a TF
    if not (part == 1).any():
        part[-2] = 1
    names = ("Train", "Validation", "Test")
    owner = pd.Series(np.array(names)[part], index=order)
    return {name: pairs[pairs["TF"].map(owner) == name].reset_index(drop=True) for name in names}
