"""Pairwise TF–gene association baselines: Pearson and Spearman correlation, mutual information.

The baselines of the BEELINE evaluation (Pratapa et al. 2020): every TF × gene pair is scored by one
statistic of the two expression vectors, with no model of the other TFs. Importance is the strength
of the association (absolute correlation, mutual information in nats), so that every method ranks
edges the same way; all pairs are returned. Genes are processed in blocks, so a sparse matrix is
only densified a block at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import anndata as ad
import numpy as np
import pandas as pd
from distributed import Client
from scipy.stats import rankdata

from gridapp.core.matrix import dense, standardise
from gridapp.core.methods.registry import Method, register

#: genes densified at a time
BLOCK = 512
#: equal-frequency bins per gene for mutual information
MI_BINS = 8


def _blocks(adata: ad.AnnData, transform: Callable[[np.ndarray], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, transform(dense block))`` for consecutive blocks of genes."""
    for start in range(0, adata.n_vars, BLOCK):
        yield start, transform(dense(adata.X[:, start : start + BLOCK], np.float64))


def _unit_norm(block: np.ndarray) -> np.ndarray:
    """Centre and scale columns to unit norm (constant columns become 0): their products are correlations."""
    return standardise(block) / np.sqrt(len(block))


def _ranks(block: np.ndarray) -> np.ndarray:
    """Average ranks per column (ties share their mean rank), standardised."""
    return _unit_norm(rankdata(block, axis=0))


def _edges(scores: np.ndarray, tfs: Sequence[str], genes: Sequence[str]) -> pd.DataFrame:
    """TF × gene score matrix as ``TF, target, importance`` rows."""
    return pd.DataFrame(
        {
            "TF": np.repeat(np.asarray(tfs, dtype=object), len(genes)),
            "target": np.tile(np.asarray(genes, dtype=object), len(tfs)),
            "importance": scores.ravel(),
        }
    )


def _gene_columns(adata: ad.AnnData, genes: Sequence[str]) -> np.ndarray:
    """cells × ``genes`` as a dense float64 array."""
    return dense(adata[:, list(genes)].X, np.float64)


def _correlation(adata: ad.AnnData, tfs: Sequence[str], transform: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """|correlation| of every TF with every gene after ``transform`` (standardising) each column."""
    regulators = transform(_gene_columns(adata, tfs))
    scores = np.empty((len(tfs), adata.n_vars))
    for start, block in _blocks(adata, transform):
        scores[:, start : start + block.shape[1]] = np.abs(regulators.T @ block)
    return _edges(scores, tfs, list(adata.var_names))


def pearson(adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None) -> pd.DataFrame:
    """Absolute Pearson correlation of each TF with each gene."""
    return _correlation(adata, tfs, _unit_norm)


def spearman(adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None) -> pd.DataFrame:
    """Absolute Spearman rank correlation of each TF with each gene (average ranks for ties)."""
    return _correlation(adata, tfs, _ranks)


def discretise(block: np.ndarray, n_bins: int = MI_BINS) -> np.ndarray:
    """Equal-frequency bins per column; equal values share a bin (so a mostly-zero gene gets fewer bins)."""
    codes = np.empty(block.shape, dtype=np.int64)
    for j in range(block.shape[1]):
        column = block[:, j]
        edges = np.unique(np.quantile(column, np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes[:, j] = np.searchsorted(edges, column, side="right")
    return codes


def _one_hot(codes: np.ndarray, n_bins: int) -> np.ndarray:
    """cells × (columns · n_bins) indicator matrix of ``codes``."""
    n_cells, n_columns = codes.shape
    hot = np.zeros((n_cells, n_columns * n_bins), dtype=np.float32)
    hot[np.arange(n_cells)[:, None], np.arange(n_columns) * n_bins + codes] = 1.0
    return hot


def _entropy(probabilities: np.ndarray, axis: int) -> np.ndarray:
    logs = np.log(probabilities, out=np.zeros_like(probabilities), where=probabilities > 0)
    return -(probabilities * logs).sum(axis=axis)


def mutual_information(
    adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None, n_bins: int = MI_BINS
) -> pd.DataFrame:
    """Plug-in mutual information (nats) of each TF with each gene over equal-frequency bins.

    MI = H(TF) + H(gene) − H(TF, gene), the joint distribution counted for all pairs at once as one
    matrix product of bin indicators.
    """
    n_cells = adata.n_obs
    regulators = _one_hot(discretise(_gene_columns(adata, tfs), n_bins), n_bins)
    tf_marginal = regulators.reshape(n_cells, len(tfs), n_bins).sum(axis=0, dtype=np.float64) / n_cells
    tf_entropy = _entropy(tf_marginal, axis=1)
    scores = np.empty((len(tfs), adata.n_vars))
    for start, block in _blocks(adata, lambda block: _one_hot(discretise(block, n_bins), n_bins)):
        n_genes = block.shape[1] // n_bins
        # counts are exact in float32; probabilities and entropies in float64
        joint = (regulators.T @ block).astype(np.float64).reshape(len(tfs), n_bins, n_genes, n_bins) / n_cells
        gene_entropy = _entropy(block.reshape(n_cells, n_genes, n_bins).sum(axis=0, dtype=np.float64) / n_cells, axis=1)
        joint_entropy = _entropy(joint.transpose(0, 2, 1, 3).reshape(len(tfs), n_genes, -1), axis=2)
        scores[:, start : start + n_genes] = np.maximum(tf_entropy[:, None] + gene_entropy[None, :] - joint_entropy, 0)
    return _edges(scores, tfs, list(adata.var_names))


BEELINE_BASELINE = "BEELINE baseline (Pratapa et al. 2020, Nat Methods 17:147)"
for method_id, name, function, citation, parameters in (
    ("pearson", "Pearson correlation", pearson, BEELINE_BASELINE, {}),
    ("spearman", "Spearman correlation", spearman, BEELINE_BASELINE, {}),
    (
        "mi",
        "Mutual information (equal-frequency bins)",
        mutual_information,
        "as in ARACNe / PIDC (Margolin et al. 2006; Chan et al. 2017)",
        {"n_bins": MI_BINS},
    ),
):
    register(
        Method(
            id=method_id,
            name=name,
            citation=citation,
            supervised=False,
            infer=function,
            seeded=False,
            parameters=parameters,
        )
    )
