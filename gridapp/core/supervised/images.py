"""DeepDRIM's inputs: 32 × 32 joint-expression images of a gene pair and of each gene's neighbours.

Chen et al. 2021 (*Brief Bioinform* 22:bbab325), after CNNC (Yuan & Bar-Joseph 2019): a pair (a, b) is
the 2-D histogram over cells of ``log10(x_a + 0.01)`` against ``log10(x_b + 0.01)`` in 32 × 32 bins
spanning each gene's range, scaled as ``(log10(count / n_cells + 1e-4) + 4) / 4`` (0 for an empty bin,
1 when every cell falls in one bin). Beside it, each gene of the pair brings its *neighbour images*:
itself against itself, and against the ``n`` genes of highest positive covariance with it (n = 10 in
the paper), so that a model sees whether a link is better explained through a third gene. A pair's
input is the primary image plus 2n + 2 neighbour images. Here a gene's neighbours exclude only the gene
itself, so every gene's neighbour stack is computed once and shared by all its pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np

from gridapp.core.matrix import dense

#: bins per axis
BINS = 32
#: pseudo-count before log10, and the floor of the scaled histogram
PSEUDOCOUNT, FLOOR = 0.01, 1e-4
#: neighbours per gene (the paper's n)
N_NEIGHBOURS = 10


class PairImages:
    """Binned genes of one expression matrix, from which any pair's images are drawn.

    Parameters
    ----------
    adata
        Cells × genes expression (non-negative; counts or normalised values).
    n_neighbours
        Genes of highest positive covariance kept as each gene's neighbours.
    bins
        Bins per axis.
    """

    def __init__(self, adata: ad.AnnData, *, n_neighbours: int = N_NEIGHBOURS, bins: int = BINS) -> None:
        logged = np.log10(dense(adata.X, np.float64) + PSEUDOCOUNT)
        self.genes = list(adata.var_names)
        self.index = {gene: i for i, gene in enumerate(self.genes)}
        self.bins, self.n_cells = bins, logged.shape[0]
        self.codes = bin_codes(logged, bins)
        self.neighbours = top_covariance_neighbours(logged, n_neighbours)

    def primary(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Images of ``(a, b)`` pairs: pairs × bins × bins, float32."""
        first = np.array([self.index[a] for a, _ in pairs], dtype=np.int64)
        second = np.array([self.index[b] for _, b in pairs], dtype=np.int64)
        return self.pair_images(first, second)

    def neighbour_stack(self, genes: Sequence[str]) -> np.ndarray:
        """Each gene against itself and its neighbours: genes × (n + 1) × bins × bins, float32."""
        rows = np.array([self.index[g] for g in genes], dtype=np.int64)
        partners = np.column_stack([rows, self.neighbours[rows]])
        n_partners = partners.shape[1]
        images = self.pair_images(np.repeat(rows, n_partners), partners.ravel())
        return images.reshape(len(rows), n_partners, self.bins, self.bins)

    def pair_images(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Images of gene-index pairs ``(first[i], second[i])``: pairs × bins × bins, float32."""
        size = self.bins * self.bins
        flat = self.codes[:, first] * self.bins + self.codes[:, second] + np.arange(len(first)) * size
        counts = np.bincount(flat.ravel(), minlength=len(first) * size).astype(np.float64)
        return scale_counts(counts, self.n_cells).reshape(len(first), self.bins, self.bins).astype(np.float32)


def bin_codes(logged: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each cell's bin (0 … bins−1) per gene, over equal-width bins spanning the gene's range (NumPy's
    ``histogram`` rule: the maximum falls in the last bin; a constant gene sits in bin 0)."""
    low, high = logged.min(axis=0), logged.max(axis=0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(((logged - low) / width).astype(np.int64), 0, bins - 1)


def scale_counts(counts: np.ndarray, n_cells: int) -> np.ndarray:
    """Histogram counts as DeepDRIM scales them: ``(log10(count / n_cells + 1e-4) + 4) / 4``."""
    return (np.log10(counts / n_cells + FLOOR) + 4.0) / 4.0


def top_covariance_neighbours(logged: np.ndarray, n_neighbours: int) -> np.ndarray:
    """genes × n: for each gene, the genes of highest covariance with it (itself excluded), largest first.

    When fewer genes than ``n`` covary positively the list is completed with the next ones (a model's
    input keeps a fixed size).
    """
    n_genes = logged.shape[1]
    if n_genes <= n_neighbours:
        raise ValueError(f"{n_neighbours} neighbours need more than {n_neighbours} genes, got {n_genes}.")
    covariance = np.cov(logged, rowvar=False)
    np.fill_diagonal(covariance, -np.inf)
    top = np.argpartition(-covariance, n_neighbours - 1, axis=1)[:, :n_neighbours]
    order = np.argsort(-np.take_along_axis(covariance, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
