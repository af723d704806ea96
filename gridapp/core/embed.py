"""UMAP and tSNE of the regulon activity (AUC) matrix."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from openTSNE import TSNE
from pynndescent import PyNNDescentTransformer

#: from this many cells the kNN graph comes from pynndescent instead of exact distances. scanpy switches at 8,192
#: cells, but pynndescent's main kernels cannot be cached by numba, so every process compiles them again (about
#: 35 s on 2 cores); exact distances of 196 regulons took 1.4 s for 8,684 cells and 17 s for 50,000 (0.5 GB)
APPROXIMATE_FROM = 50_000
#: from this many cells openTSNE computes its gradients by FFT interpolation (Barnes–Hut below), on every core
FFT_FROM = 10_000


class NNDescentMatrix(PyNNDescentTransformer):
    """pynndescent's kNN graph as a ``scipy.sparse.csr_matrix``.

    pynndescent 0.7 returns a sparse *array*, on which scanpy 1.11 calls ``getnnz`` (a matrix-only
    method) and fails; this is the transformer scanpy would pick for large data, with that fixed.
    """

    def fit_transform(self, X, y=None, **fit_params):
        return sp.csr_matrix(super().fit_transform(X, y, **fit_params))


def embed_auc(adata: ad.AnnData, *, use_rep: str = "X_aucell", seed: int = 0, n_neighbors: int = 15) -> None:
    """Compute UMAP and tSNE on the AUC matrix, as the SCENIC protocol does.

    UMAP through scanpy; tSNE with openTSNE (FFT-accelerated gradients from :data:`FFT_FROM` cells: about a
    minute for 50,000 cells on 2 cores, where scanpy's Barnes–Hut tSNE takes about ten). The two run at once,
    UMAP in a thread of its own (openTSNE's gradient loops release the GIL), each with the coordinates it
    gives alone.

    Writes ``adata.obsm['X_umap_aucell']`` and ``adata.obsm['X_tsne_aucell']`` (cells × 2); the
    data's own ``X_umap`` / ``X_tsne`` are left alone.
    """
    auc = np.asarray(adata.obsm[use_rep], dtype=np.float32)
    name = use_rep.removeprefix("X_")
    with ThreadPoolExecutor(1, thread_name_prefix="gridapp-umap") as side:
        umap = side.submit(umap_of, auc, seed=seed, n_neighbors=n_neighbors)
        adata.obsm[f"X_tsne_{name}"] = tsne_of(auc, seed=seed)
        adata.obsm[f"X_umap_{name}"] = umap.result()


def umap_of(values: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """scanpy's UMAP (cells × 2) of the rows of ``values`` (float32), from their ``n_neighbors``-nearest-neighbour
    graph (pynndescent's from :data:`APPROXIMATE_FROM` cells, exact below)."""
    scratch = ad.AnnData(values)
    n_neighbors = min(n_neighbors, len(values) - 1)
    transformer = (
        NNDescentMatrix(n_neighbors=n_neighbors, random_state=seed) if len(values) >= APPROXIMATE_FROM else "sklearn"
    )
    sc.pp.neighbors(scratch, use_rep="X", n_neighbors=n_neighbors, random_state=seed, transformer=transformer)
    sc.tl.umap(scratch, random_state=seed)
    return scratch.obsm["X_umap"]


def tsne_of(values: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """openTSNE's tSNE (cells × 2) of the rows of ``values``: Barnes–Hut in one thread below :data:`FFT_FROM`
    cells, FFT-interpolated gradients on every CPU core from there.

    Below :data:`FFT_FROM` each of the 750 iterations is a few milliseconds of work, and openTSNE's OpenMP threads
    spend more CPU waiting for each other than computing: on 2 busy cores (the demo donor's 1,045 cells, a
    dashboard job) two threads took 1.6–5x the CPU seconds of one, and longer in wall time.
    """
    start = "pca" if np.ptp(values, axis=0).any() else "random"  # identical cells have no principal axis
    threads = (os.cpu_count() or 1) if len(values) >= FFT_FROM else 1
    tsne = TSNE(perplexity=min(30, (len(values) - 1) / 3), initialization=start, random_state=seed, n_jobs=threads)
    return np.asarray(tsne.fit(values))
