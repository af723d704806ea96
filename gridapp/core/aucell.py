"""AUCell regulon activity per cell: pySCENIC's values, computed from partial rankings.

pySCENIC ranks every gene in every cell (after shuffling the genes with the seed, so that ties go
to the earlier gene in the shuffle) and integrates each regulon's recovery curve over the top
``rank_cutoff = round(auc_threshold × n_genes) − 1`` ranks. The area is a weighted sum over the regulon's
genes ranked above the cut-off: ``Σ w_g (rank_cutoff − rank_g) / ((rank_cutoff + 1) Σ w)``. So only
the top ``rank_cutoff`` genes of each cell matter, and for non-negative expression those are the
cell's detected genes in decreasing order, then undetected genes in shuffle order. One compiled pass per
cell finds them without ranking the rest or reordering the matrix: each detected gene gets one integer
key (a code of its value, its float32 bits or its rank among the distinct values, above its shuffle
position), a partial quicksort puts the ``rank_cutoff`` keys of the top genes first, in order, and each
ranked gene adds its share to the areas of the regulons it belongs to.
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
CELL_CHUNK = 256
#: ranges this short are insertion-sorted
INSERTION_SORTED = 16
#: the shuffle position in a sorting key (its low 32 bits)
POSITION_BITS = 0xFFFFFFFF


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
        raise GridappError("There are no regulons to score.", "Loosen pruning or use --prune none.")
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
    position = np.empty(n_genes, dtype=np.int64)
    position[shuffle_order(n_genes, seed)] = np.arange(n_genes)
    members, max_auc = _membership(list(adata.var_names), position, regulons, rank_cutoff)
    matrix = _value_codes(adata.X)
    values = np.zeros((adata.n_obs, len(regulons)))

    starts = iter(range(0, adata.n_obs, CELL_CHUNK))  # shared by the threads: each chunk goes to one

    def score() -> None:
        for start in starts:
            cells = (matrix.indptr, matrix.indices, matrix.data, start, min(start + CELL_CHUNK, adata.n_obs))
            _score_cells(*cells, position, members.indptr, members.indices, members.data, max_auc, rank_cutoff, values)

    threads = n_threads or os.cpu_count() or 1
    with ThreadPoolExecutor(max(threads - 1, 1)) as pool:  # this thread scores too, without waiting for the others
        helpers = [pool.submit(score) for _ in range(threads - 1)]
        score()
        for helper in helpers:
            helper.result()
    auc = pd.DataFrame(values, index=adata.obs_names.copy(), columns=[str(regulon.name) for regulon in regulons])
    auc.index.name = None
    adata.obsm[key_added] = auc
    adata.uns["aucell"] = {"regulons": list(auc.columns), "auc_threshold": threshold, "seed": seed}
    return auc


def _value_codes(matrix: np.ndarray | sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """CSR of int32 codes that order each cell's values: larger code, larger value; equal codes, equal values.

    Genes without a positive code rank after the others. Non-negative data: the codes of the positive values,
    their float32 bit patterns when float32 holds them exactly (no copy when ``matrix`` is a float32 CSR without
    duplicate entries), else their ranks among the distinct values. Data with negative values (scaled): the
    ranks of every value of every gene.
    """
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if values.size and values.min() < 0:
        dense = np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix)
        return sp.csr_matrix(_ranks(dense.ravel()).reshape(dense.shape))
    matrix = sp.csr_matrix(matrix)
    if not matrix.has_canonical_format:  # duplicate entries add up
        matrix = matrix.copy()
        matrix.sum_duplicates()
    values = matrix.data.astype(np.float32, copy=False)
    exact = matrix.dtype == np.float32 or np.array_equal(values, matrix.data)
    codes = values.view(np.int32) if exact else np.where(matrix.data > 0, _ranks(matrix.data), 0).astype(np.int32)
    return sp.csr_matrix((codes, matrix.indices, matrix.indptr), shape=matrix.shape)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank (from 1) among the distinct ``values``."""
    return (np.unique(values, return_inverse=True)[1] + 1).astype(np.int32)


def shuffle_order(n_genes: int, seed: int) -> np.ndarray:
    """The gene order pySCENIC ranks in (``DataFrame.sample(frac=1, axis=1, random_state=seed)``)."""
    return (
        pd.DataFrame(np.zeros((1, n_genes)))
        .sample(frac=1.0, replace=False, axis=1, random_state=seed)
        .columns.to_numpy()
    )


def _membership(
    genes: list[str], position: np.ndarray, regulons: Sequence[Regulon], rank_cutoff: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Gene weights (shuffle positions × regulons) and each regulon's maximal area (0: not scored).

    The maximal area sums a regulon's weights in shuffle order, as pySCENIC does.
    """
    index = {gene: i for i, gene in enumerate(genes)}
    sizes = np.array([len(regulon.gene2weight) for regulon in regulons])
    owner = np.repeat(np.arange(len(regulons)), sizes)  # the regulon of each (regulon, gene) pair
    column = np.array([index.get(gene, -1) for regulon in regulons for gene in regulon.gene2weight], dtype=np.int64)
    weight = np.array([w for regulon in regulons for w in regulon.gene2weight.values()], dtype=np.float64)
    present = np.bincount(owner[column >= 0], minlength=len(regulons))
    scored = (present > 0) & (present / np.maximum(sizes, 1) >= MIN_GENES_PRESENT)
    kept = (column >= 0) & scored[owner]
    rows, owner, weight = position[column[kept]], owner[kept], weight[kept]
    members = sp.csr_matrix((weight, (rows, owner)), shape=(len(genes), len(regulons)), dtype=np.float64)
    in_order = np.split(weight[np.lexsort((rows, owner))], np.cumsum(np.bincount(owner, minlength=len(regulons)))[:-1])
    max_auc = np.array([(rank_cutoff + 1) * np.sum(weights) for weights in in_order])
    return members, max_auc


@njit(cache=True, nogil=True)
def _score_cells(
    indptr, indices, codes, start, end, position, member_ptr, member_of, member_weight, max_auc, rank_cutoff, out
):
    """Write the AUC of every regulon in CSR rows ``start`` to ``end`` (cells) into those rows of ``out``.

    A cell's ranking: its genes with positive value ``codes`` by decreasing code, ties by shuffle position
    (``position`` of a gene), then its other genes by shuffle position. Only the top ``rank_cutoff`` count:
    the gene at rank ``r`` adds ``weight × (rank_cutoff − r)`` to the area of each regulon it belongs to (CSR
    ``member_*``: shuffle positions × regulons), in rank order.
    """
    n_genes = len(position)
    keys = np.empty(n_genes, dtype=np.int64)  # sorting keys: ascending key is descending code, then ascending position
    detected = np.zeros(n_genes, dtype=np.bool_)  # by shuffle position
    stack = np.empty(128, dtype=np.int64)
    areas = np.empty(len(max_auc))
    for cell in range(start, end):
        n = 0
        for k in range(indptr[cell], indptr[cell + 1]):
            if codes[k] > 0:
                keys[n] = position[indices[k]] - (np.int64(codes[k]) << 32)
                n += 1
        ranked = min(n, rank_cutoff)
        _sort_smallest(keys, n, ranked, stack)
        areas[:] = 0.0
        for rank in range(ranked):
            _recover(keys[rank] & POSITION_BITS, rank_cutoff - rank, member_ptr, member_of, member_weight, areas)
        if ranked < rank_cutoff:  # the undetected genes come next, in shuffle order
            for i in range(n):
                detected[keys[i] & POSITION_BITS] = True
            rank, key = ranked, 0
            while rank < rank_cutoff:
                if not detected[key]:
                    _recover(key, rank_cutoff - rank, member_ptr, member_of, member_weight, areas)
                    rank += 1
                key += 1
            for i in range(n):
                detected[keys[i] & POSITION_BITS] = False
        for j in range(len(max_auc)):
            out[cell, j] = areas[j] / max_auc[j] if max_auc[j] > 0 else 0.0


@njit(cache=True, nogil=True)
def _recover(key, height, member_ptr, member_of, member_weight, areas):
    """Add the recovery-curve area of the gene at shuffle position ``key`` to its regulons' ``areas``."""
    for m in range(member_ptr[key], member_ptr[key + 1]):
        areas[member_of[m]] += member_weight[m] * height


@njit(cache=True, nogil=True)
def _sort_smallest(keys, n, top, stack):
    """Reorder the distinct ``keys[:n]`` so that the first ``top`` are the smallest, in increasing order.

    A quicksort that leaves the parts beyond ``top`` unsorted; ``stack`` holds the ranges still to sort (the
    larger part waits, so at most 2 × log2(n) entries).
    """
    depth, lo, hi = 0, 0, n - 1
    while True:
        if hi - lo < INSERTION_SORTED:
            for i in range(lo + 1, hi + 1):
                key, j = keys[i], i
                while j > lo and key < keys[j - 1]:
                    keys[j] = keys[j - 1]
                    j -= 1
                keys[j] = key
            if depth == 0:
                return
            depth -= 2
            lo, hi = stack[depth], stack[depth + 1]
            continue
        split = _partition(keys, lo, hi)
        if split + 1 >= top:  # the right part holds no rank below top
            hi = split - 1
        elif split - lo < hi - split:
            stack[depth], stack[depth + 1] = split + 1, hi
            depth += 2
            hi = split - 1
        else:
            stack[depth], stack[depth + 1] = lo, split - 1
            depth += 2
            lo = split + 1


@njit(cache=True, nogil=True)
def _partition(keys, lo, hi):
    """Partition ``keys[lo : hi + 1]`` around the median of its ends and middle; returns the median's new index.

    Branch-free (Lomuto's scheme, swapping every key): comparisons of shuffled keys are unpredictable.
    """
    mid = (lo + hi) // 2
    low, pivot, high = keys[lo], keys[mid], keys[hi]
    low, pivot = min(low, pivot), max(low, pivot)
    pivot, high = min(pivot, high), max(pivot, high)
    low, pivot = min(low, pivot), max(low, pivot)
    keys[lo], keys[mid], keys[hi] = low, high, pivot
    store = lo
    for i in range(lo, hi):
        key = keys[i]
        keys[i] = keys[store]
        keys[store] = key
        store += key < pivot
    keys[hi] = keys[store]
    keys[store] = pivot
    return store


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
