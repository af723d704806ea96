"""AUCell regulon activity per cell, through pySCENIC's implementation."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from ctxcore.genesig import Regulon
from pyscenic.aucell import aucell as pyscenic_aucell
from pyscenic.binarization import derive_threshold

from gridapp.core.errors import GridappError
from gridapp.core.regulons import expression_frame

#: pySCENIC's default fraction of the ranking that AUCell integrates over.
DEFAULT_AUC_THRESHOLD = 0.05
DETECTED_QUANTILES = (0.01, 0.05, 0.10, 0.50, 1.0)


def genes_detected_quantiles(adata: ad.AnnData) -> pd.Series:
    """Quantiles of the number of genes detected per cell (pySCENIC's ``derive_auc_threshold`` view)."""
    detected = np.asarray((adata.X > 0).sum(axis=1)).ravel() if sp.issparse(adata.X) else (adata.X > 0).sum(axis=1)
    return pd.Series(detected).quantile(list(DETECTED_QUANTILES))


def choose_auc_threshold(adata: ad.AnnData) -> float:
    """AUCell's ranking cut-off from the genes-detected-per-cell quantiles.

    The area under the recovery curve should only cover genes that are detected in nearly every
    cell, otherwise ties among undetected genes (ordered at random) enter the score. So the
    threshold is pySCENIC's default 0.05 unless the 1 % least complex cells detect fewer genes
    than that, in which case it is the fraction of genes those cells detect.
    """
    q01 = float(genes_detected_quantiles(adata).loc[0.01])
    return float(min(DEFAULT_AUC_THRESHOLD, max(q01 / adata.n_vars, 1 / adata.n_vars)))


def aucell(
    adata: ad.AnnData,
    regulons: Sequence[Regulon],
    *,
    auc_threshold: float | None = None,
    seed: int = 0,
    num_workers: int = 1,
    key_added: str = "X_aucell",
) -> pd.DataFrame:
    """Score every regulon in every cell with AUCell (pySCENIC's values and tie-breaking).

    Parameters
    ----------
    adata
        Cells × genes expression.
    regulons
        Regulons to score.
    auc_threshold
        Fraction of the ranking to integrate; :func:`choose_auc_threshold` when ``None``.
    seed
        Seed of the shuffle that breaks ties in the rankings.
    num_workers
        Processes for pySCENIC's AUCell; 1 scores in this process (pySCENIC forks workers,
        which can deadlock in a process that already runs OpenMP or Dask threads).
    key_added
        ``obsm`` key for the cells × regulons AUC DataFrame.

    Returns
    -------
    The AUC matrix (cells × regulons), also stored in ``adata.obsm[key_added]``, with settings in
    ``adata.uns['aucell']`` (``regulons``, ``auc_threshold``, ``seed``).
    """
    if not regulons:
        raise GridappError("There are no regulons to score.", "Loosen pruning or use --no-prune.")
    threshold = choose_auc_threshold(adata) if auc_threshold is None else auc_threshold
    if not 0 < threshold <= 1:
        raise GridappError(f"auc_threshold must lie in (0, 1], got {threshold}.")
    auc = pyscenic_aucell(
        expression_frame(adata),
        list(regulons),
        auc_threshold=threshold,
        seed=seed,
        num_workers=num_workers,
    )
    auc = auc.loc[adata.obs_names, [regulon.name for regulon in regulons]]
    auc.columns = auc.columns.astype(str)
    auc.columns.name = None
    auc.index.name = None
    adata.obsm[key_added] = auc
    adata.uns["aucell"] = {"regulons": list(auc.columns), "auc_threshold": threshold, "seed": seed}
    return auc


def binarize(adata: ad.AnnData, *, seed: int = 0, use_rep: str = "X_aucell") -> pd.Series:
    """Decide per regulon which cells have it on, with pySCENIC's threshold rule.

    A bimodal AUC distribution (Hartigan's dip test) is cut at the density trough between the two
    Gaussian-mixture peaks; a unimodal one at mean + 2 SD. The thresholds are computed in this
    process, one regulon at a time (pySCENIC's own ``binarize`` forks a pool, which deadlocks once
    OpenMP threads exist). A regulon whose AUC values defeat the dip test (fewer than three
    distinct values, or heavy ties) gets the unimodal rule.

    Returns
    -------
    Thresholds per regulon; also writes ``adata.obsm['X_aucell_binary']`` (cells × regulons, 0/1)
    and ``adata.uns['aucell']['thresholds']`` (aligned with ``uns['aucell']['regulons']``).
    """
    auc: pd.DataFrame = adata.obsm[use_rep]
    thresholds = pd.Series({name: _threshold(auc, name, seed) for name in auc.columns})
    adata.obsm[f"{use_rep}_binary"] = on_off(auc, thresholds)
    adata.uns["aucell"]["thresholds"] = thresholds.loc[auc.columns].to_numpy()
    return thresholds


def on_off(auc: pd.DataFrame, thresholds: pd.Series) -> pd.DataFrame:
    """Cells × regulons 0/1: 1 where a cell's AUC exceeds its regulon's threshold."""
    return (auc > thresholds.reindex(auc.columns)).astype(np.int8)


def thresholds_of(adata: ad.AnnData, overrides: dict[str, float] | None = None) -> pd.Series:
    """The stored per-regulon on/off thresholds, with a user's ``overrides`` (by regulon) applied."""
    thresholds = pd.Series(adata.uns["aucell"]["thresholds"], index=list(adata.uns["aucell"]["regulons"]), dtype=float)
    thresholds.update(pd.Series(overrides or {}, dtype=float))
    return thresholds


def _threshold(auc: pd.DataFrame, regulon: str, seed: int) -> float:
    values = auc[regulon].to_numpy()
    unimodal = float(values.mean() + 2.0 * values.std())
    if len(np.unique(values)) < 3:  # the dip test needs a distribution
        return unimodal
    try:
        return float(derive_threshold(auc, regulon, seed))
    except IndexError:  # pySCENIC's dip test fails on some heavily tied distributions
        return unimodal
