"""UMAP and tSNE of the regulon activity (AUC) matrix."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scanpy as sc


def embed_auc(adata: ad.AnnData, *, use_rep: str = "X_aucell", seed: int = 0, n_neighbors: int = 15) -> None:
    """Compute UMAP and tSNE on the AUC matrix, as the SCENIC protocol does.

    Writes ``adata.obsm['X_umap_aucell']`` and ``adata.obsm['X_tsne_aucell']`` (cells × 2); the
    data's own ``X_umap`` / ``X_tsne`` are left alone.
    """
    auc = np.asarray(adata.obsm[use_rep], dtype=np.float32)
    scratch = ad.AnnData(auc)
    sc.pp.neighbors(scratch, use_rep="X", n_neighbors=min(n_neighbors, adata.n_obs - 1), random_state=seed)
    sc.tl.umap(scratch, random_state=seed)
    sc.tl.tsne(scratch, use_rep="X", random_state=seed, perplexity=min(30, (adata.n_obs - 1) / 3))
    adata.obsm[f"X_umap_{use_rep.removeprefix('X_')}"] = scratch.obsm["X_umap"]
    adata.obsm[f"X_tsne_{use_rep.removeprefix('X_')}"] = scratch.obsm["X_tsne"]
