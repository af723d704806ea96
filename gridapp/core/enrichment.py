"""Keep the TFs whose inferred targets are enriched in a reference's targets (sci-fate's ChIP-seq filter).

sci-fate (Cao et al. 2020) keeps a TF's LASSO links only when the genes it links to overlap that TF's
ChIP-seq targets more than chance: a one-sided Fisher's exact test per TF over the genes that were
tested, Benjamini–Hochberg across TFs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: columns of the enrichment table
ENRICHMENT_COLUMNS = ["TF", "n_targets", "n_reference", "overlap", "odds_ratio", "pvalue", "qvalue", "kept"]


def tf_enrichment(
    adjacencies: pd.DataFrame, reference: pd.DataFrame, *, universe: Sequence[str], fdr: float = 0.05
) -> pd.DataFrame:
    """Per TF, Fisher's exact test of its inferred targets against its reference targets.

    Parameters
    ----------
    adjacencies
        ``TF, target`` links (e.g. the non-zero LASSO coefficients).
    reference
        ``TF, target`` links of a prior: ChIP-seq targets, TRRUST, DoRothEA, CollecTRI.
    universe
        The genes that could have been linked (the tested targets); both target sets are cut to it.
    fdr
        Benjamini–Hochberg level at which a TF is kept.

    Returns
    -------
    :data:`ENRICHMENT_COLUMNS` for every TF of ``adjacencies`` with reference targets in the universe
    (one-sided test: more overlap than chance), most significant first.
    """
    genes = pd.Index(pd.unique(np.asarray(universe, dtype=object)))
    known = reference[reference["target"].isin(genes)].groupby("TF")["target"].agg(frozenset)
    linked = adjacencies[adjacencies["target"].isin(genes)].groupby("TF")["target"].agg(frozenset)
    rows = []
    for tf, targets in linked.items():
        if tf not in known.index:
            continue
        overlap = len(targets & known[tf])
        table = [
            [overlap, len(targets) - overlap],
            [len(known[tf]) - overlap, len(genes) - len(targets | known[tf])],
        ]
        odds_ratio, pvalue = stats.fisher_exact(table, alternative="greater")
        rows.append((tf, len(targets), len(known[tf]), overlap, odds_ratio, pvalue))
    found = pd.DataFrame(rows, columns=ENRICHMENT_COLUMNS[:6])
    found["qvalue"] = stats.false_discovery_control(found["pvalue"], method="bh") if len(found) else []
    found["kept"] = found["qvalue"] < fdr
    return found.sort_values(["pvalue", "TF"]).reset_index(drop=True)


def enriched_links(adjacencies: pd.DataFrame, enrichment: pd.DataFrame) -> pd.DataFrame:
    """The links of the TFs that :func:`tf_enrichment` kept."""
    return adjacencies[adjacencies["TF"].isin(enrichment.loc[enrichment["kept"], "TF"])]
