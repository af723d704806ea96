"""AUCell regulon activity per cell: pySCENIC's values, computed from partial rankings.

pySCENIC ranks every gene in every cell (after shuffling the genes with the seed, so that ties go
to the earlier gene in the shuffle) and integrates each regulon's recovery curve over the top
``rank_cutoff = round(auc_threshold × n_genes) − 1`` ranks. The area is a weighted sum over the regulon's
genes ranked above the cut-off: ``Σ w_g (rank_cutoff − rank_g) / ((rank_cutoff + 1) Σ w)``. So only
the top ``rank_cutoff`` genes of each cell matter, and for non-negative expression those are the
cell's detected genes in decreasing order, then undetected genes in shuffle order: one sort of a
cell's non-zeros (of its top values only, when it detects more genes than the cut-off).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from ctxcore.genesig import Regulon
from numba import njit
from scipy.optimize import minimize_scalar
from scipy.stats import gaussian_kde
from sklearn.mixture import GaussianMixture

from gridapp.core.dip import is_bimodal
from gridapp.core.errors import GridappError

#: pySCENIC's default fraction of the ranking that AUCell integrates over.
DEFAULT_AUC_THRESHOLD = 0.05
#: the fewest genes an AUCell ranking keeps (one gene has no area under its recovery curve)
MIN_RANKED = 2
DETECTED_QUANTILES = (0.01, 0.05, 0.10, 0.50, 1.0)
#: pySCENIC scores a regulon only when this fraction of its genes is in the data (zero otherwise).
MIN_GENES_PRESENT = 0.8
#: cells per thread task
CELL_CHUNK = 2048


def genes_detected_quantiles(adata: ad.AnnData) -> pd.Series:
    """Quantiles of the number of genes detected per cell (pySCENIC's ``derive_auc_threshold`` view)."""
    detected = np.asarray((adata.X > 0).sum(axis=1)).ravel() if sp.issparse(adata.X) else (adata.X > 0).sum(axis=1)
    return pd.Series(detected).quantile(list(DETECTED_QUANTILES))


def choose_auc_threshold(adata: ad.AnnData) -> float:
    """AUCell's ranking cut-off from the genes-detected-per-cell quantiles.

    The area under the recovery curve should only cover genes that are detected in nearly every
    cell, otherwise ties among undetected genes (ordered at random) enter the score. So the
    threshold is pySCENIC's default 0.05 unless the 1 % least complex cells detect fewer genes
    than that, in which case it is the fraction of genes those cells detect, but never fewer than
    :data:`MIN_RANKED` genes (a ranking of one gene has no area).
    """
    q01 = float(genes_detected_quantiles(adata).loc[0.01])
    return float(max(min(DEFAULT_AUC_THRESHOLD, q01 / adata.n_vars), MIN_RANKED / adata.n_vars))


def aucell(
    adata: ad.AnnData,
    regulons: Sequence[Regulon],
    *,
    auc_threshold: float | None = None,
    seed: int = 0,
    n_threads: int | None = None,
    key_added: str = "X_aucell",
) -> pd.DataFrame:
    """Score every regulon in every cell with AUCell: pySCENIC's values, rankings and tie-breaking.

    Parameters
    ----------
    adata
        Cells × genes expression (sparse stays sparse).
    regulons
        Regulons to score (gene weights used as pySCENIC uses them).
    auc_threshold
        Fraction of the ranking to integrate; :func:`choose_auc_threshold` when ``None``.
    seed
        Seed of the gene shuffle that breaks ties in the rankings (pySCENIC's ``seed``).
    n_threads
        Threads over chunks of cells; all CPU cores when ``None``.
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
    n_genes = adata.n_vars
    kept = round(threshold * n_genes)
    if not MIN_RANKED <= kept < n_genes:
        raise GridappError(
            f"auc_threshold {threshold} keeps {kept} of {n_genes} genes; AUCell needs {MIN_RANKED} to {n_genes - 1}.",
            "Choose another --auc-threshold, or keep more genes (--n-top-genes).",
        )
    rank_cutoff = kept - 1  # as ctxcore's derive_rank_cutoff, for R SCENIC's values
    shuffled = shuffle_order(n_genes, seed)
    position = np.empty(n_genes, dtype=np.int64)
    position[shuffled] = np.arange(n_genes)
    weights, max_auc = _weight_matrix(list(adata.var_names), position, regulons, rank_cutoff)
    matrix = _rankable(adata.X[:, shuffled])  # columns in shuffle order: a column is a tie-break position
    chunks = [(start, min(start + CELL_CHUNK, adata.n_obs)) for start in range(0, adata.n_obs, CELL_CHUNK)]

    def score(chunk: tuple[int, int]) -> np.ndarray:
        block = matrix[chunk[0] : chunk[1]]
        scores = sp.csr_matrix(
            _recovery_scores(block.indptr, block.indices, block.data, n_genes, rank_cutoff),
            shape=(chunk[1] - chunk[0], n_genes),
        )
        return (scores @ weights).toarray()

    with ThreadPoolExecutor(n_threads or os.cpu_count() or 1) as pool:
        areas = np.vstack(list(pool.map(score, chunks))) if chunks else np.zeros((0, len(regulons)))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(max_auc > 0, areas / np.where(max_auc > 0, max_auc, 1.0), 0.0)
    auc = pd.DataFrame(values, index=adata.obs_names.copy(), columns=[str(regulon.name) for regulon in regulons])
    auc.index.name = None
    adata.obsm[key_added] = auc
    adata.uns["aucell"] = {"regulons": list(auc.columns), "auc_threshold": threshold, "seed": seed}
    return auc


def _rankable(matrix: np.ndarray | sp.spmatrix) -> sp.csr_matrix:
    """CSR float64 with sorted indices whose stored values are the ones that rank above the unstored.

    Non-negative data: the non-zeros. Data with negative values (scaled): every value, shifted to be
    positive (the order, hence the ranking, is unchanged).
    """
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if values.size and values.min() < 0:
        dense = np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float64)
        matrix = dense - dense.min() + 1.0
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def shuffle_order(n_genes: int, seed: int) -> np.ndarray:
    """The gene order pySCENIC ranks in (``DataFrame.sample(frac=1, axis=1, random_state=seed)``)."""
    return (
        pd.DataFrame(np.zeros((1, n_genes)))
        .sample(frac=1.0, replace=False, axis=1, random_state=seed)
        .columns.to_numpy()
    )


def _weight_matrix(
    genes: list[str], position: np.ndarray, regulons: Sequence[Regulon], rank_cutoff: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Shuffle positions × regulons gene weights, and each regulon's maximal area (0: not scored)."""
    index = {gene: i for i, gene in enumerate(genes)}
    rows, columns, values = [], [], []
    max_auc = np.zeros(len(regulons))
    for j, regulon in enumerate(regulons):
        present = [gene for gene in regulon.genes if gene in index]
        if not present or len(present) / len(regulon) < MIN_GENES_PRESENT:
            continue
        weights = [regulon[gene] for gene in present]
        rows.extend(position[index[gene]] for gene in present)
        columns.extend([j] * len(present))
        values.extend(weights)
        max_auc[j] = (rank_cutoff + 1) * float(np.sum(weights))
    weights = sp.csr_matrix((values, (rows, columns)), shape=(len(genes), len(regulons)), dtype=np.float64)
    return weights, max_auc


@njit(cache=True, nogil=True)
def _recovery_scores(indptr, indices, data, n_genes, rank_cutoff):
    """CSR (data, indices, indptr), cells × genes, of ``rank_cutoff - rank`` for the genes above the cut-off.

    A cell's ranking: its stored (positive) values in decreasing order, ties by column (shuffle
    position), then its unstored genes by column. Only the top ``rank_cutoff`` are ranked.
    """
    n_cells = len(indptr) - 1
    out_ptr = np.zeros(n_cells + 1, dtype=np.int64)
    out_idx = np.empty(n_cells * rank_cutoff, dtype=np.int64)
    out_val = np.empty(n_cells * rank_cutoff, dtype=np.float64)
    at = 0
    for cell in range(n_cells):
        start, end = indptr[cell], indptr[cell + 1]
        values, columns = data[start:end], indices[start:end]
        if len(values) > rank_cutoff:  # only values at or above the cut-off-th largest can be ranked
            floor = np.partition(values, len(values) - rank_cutoff)[len(values) - rank_cutoff]
            keep = values >= floor
            values, columns = values[keep], columns[keep]
        order = np.argsort(-values, kind="mergesort")  # stable: ties stay in column order
        ranked = min(len(order), rank_cutoff)
        for rank in range(ranked):
            out_idx[at] = columns[order[rank]]
            out_val[at] = rank_cutoff - rank
            at += 1
        rank, column, k = ranked, 0, 0
        stored = indices[start:end]
        while rank < rank_cutoff and column < n_genes:  # unstored genes fill the rest, in column order
            while k < len(stored) and stored[k] < column:
                k += 1
            if k < len(stored) and stored[k] == column:
                column += 1
                continue
            out_idx[at] = column
            out_val[at] = rank_cutoff - rank
            at += 1
            rank += 1
            column += 1
        out_ptr[cell + 1] = at
    return out_val[:at], out_idx[:at], out_ptr


def binarize(
    adata: ad.AnnData, *, seed: int = 0, use_rep: str = "X_aucell", known: pd.Series | None = None
) -> pd.Series:
    """Decide per regulon which cells have it on: pySCENIC's ``binarize`` thresholds and on/off calls.

    A bimodal AUC distribution (pySCENIC's dip test, simulated p-value ≤ 0.05) is cut at the density
    trough between the two Gaussian-mixture peaks; a unimodal one at mean + 2 SD. See
    :func:`auc_threshold_of`. Regulons in ``known`` (thresholds by regulon, e.g. those a SCENIC loom
    stores) keep those thresholds; only the others are computed.

    Returns
    -------
    Thresholds per regulon; also writes ``adata.obsm['X_aucell_binary']`` (cells × regulons, 0/1)
    and ``adata.uns['aucell']['thresholds']`` (aligned with ``uns['aucell']['regulons']``).
    """
    auc: pd.DataFrame = adata.obsm[use_rep]
    known = pd.Series(dtype=np.float64) if known is None else known.astype(np.float64)
    missing = [name for name in auc.columns if name not in known.index]
    columns = [auc[name].to_numpy(dtype=np.float64) for name in missing]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # the dip test is compiled and runs without the GIL
        bimodal = list(pool.map(lambda values: is_bimodal(values, seed=seed), columns))
    # the mixtures one after the other, as in each pySCENIC worker: in concurrent threads their matrix products
    # (multithreaded OpenBLAS) add up in another order, and the thresholds move by up to ~1e-6
    found = [_cut(values, bimodal=shape, seed=seed) for values, shape in zip(columns, bimodal)]
    thresholds = pd.concat([known, pd.Series(found, index=missing, dtype=np.float64)]).reindex(auc.columns)
    adata.obsm[f"{use_rep}_binary"] = on_off(auc, thresholds)
    adata.uns["aucell"]["thresholds"] = thresholds.loc[auc.columns].to_numpy()
    return thresholds


def auc_threshold_of(values: np.ndarray, *, seed: int = 0, alpha: float = 0.05) -> float:
    """pySCENIC's on/off threshold of one regulon's AUC values (``pyscenic.binarization.derive_threshold``).

    Bimodal by pySCENIC's dip test (:func:`gridapp.core.dip.is_bimodal`: its dip of the distinct values,
    p-value simulated from 1,000 uniform samples): the minimum of the Gaussian kernel density between the
    means of a two-component Gaussian mixture. Otherwise (including at most 4 distinct values): mean + 2 SD.
    Equal to pySCENIC's threshold for every nonzero seed. At seed 0 pySCENIC leaves its null samples
    unseeded (NumPy's global generator as it happens to be), so its decision varies from call to call
    for regulons whose p-value lies near ``alpha``; here seed 0 is ``RandomState(0)``, reproducible.

    Parameters
    ----------
    values
        AUC of one regulon in every cell (computed in float64).
    seed
        Seed of the dip test's null samples and of the Gaussian mixture.
    alpha
        Dip-test level at or below which the distribution counts as bimodal (pySCENIC: 0.05).
    """
    values = np.asarray(values, dtype=np.float64)
    return _cut(values, bimodal=is_bimodal(values, seed=seed, alpha=alpha), seed=seed)


def _cut(values: np.ndarray, *, bimodal: bool, seed: int) -> float:
    """pySCENIC's threshold of a distribution its dip test found ``bimodal`` or not (see :func:`auc_threshold_of`)."""
    if not bimodal:
        return float(values.mean() + 2.0 * values.std())
    mixture = GaussianMixture(n_components=2, covariance_type="full", random_state=seed).fit(values[:, None])
    trough = minimize_scalar(gaussian_kde(values), bounds=sorted(mixture.means_.ravel()), method="bounded")
    return float(np.ravel(trough.x)[0])


def on_off(auc: pd.DataFrame, thresholds: pd.Series) -> pd.DataFrame:
    """Cells × regulons 0/1: 1 where a cell's AUC exceeds its regulon's threshold."""
    return (auc > thresholds.reindex(auc.columns)).astype(np.int8)


def thresholds_of(adata: ad.AnnData, overrides: dict[str, float] | None = None) -> pd.Series:
    """The stored per-regulon on/off thresholds, with a user's ``overrides`` (by regulon) applied."""
    thresholds = pd.Series(adata.uns["aucell"]["thresholds"], index=list(adata.uns["aucell"]["regulons"]), dtype=float)
    thresholds.update(pd.Series(overrides or {}, dtype=float))
    return thresholds
