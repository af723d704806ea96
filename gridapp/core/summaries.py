"""Per-cell-type summaries of regulon activity: mean AUC z-scores, RSS, mean TF expression."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from pyscenic.rss import regulon_specificity_scores

from gridapp.core.matrix import dense
from gridapp.core.subset import obs_column


def celltype_summaries(adata: ad.AnnData, cell_type_key: str, *, use_rep: str = "X_aucell") -> dict[str, pd.DataFrame]:
    """Summarise regulon activity per cell type (the tables behind clustermaps and heatmaps).

    Parameters
    ----------
    adata
        Cells with an AUC matrix in ``obsm[use_rep]`` (a DataFrame, cells × regulons).
    cell_type_key
        ``obs`` column of cell types.

    Returns
    -------
    Dict of cell types × regulons DataFrames, also stored in ``adata.uns['regulon_summaries']``:
    ``mean_auc`` (mean AUC), ``mean_auc_z`` (mean AUC z-scored across cell types, per regulon),
    ``rss`` (regulon specificity score, Suo et al. 2018), ``tf_expression`` and ``tf_detected``
    (cell types × TFs of the regulons: mean expression, fraction of cells expressing).
    """
    auc: pd.DataFrame = adata.obsm[use_rep]
    cell_types = obs_column(adata, cell_type_key)
    mean_auc = auc.groupby(cell_types.to_numpy()).mean()
    spread = mean_auc.std(axis=0, ddof=0).replace(0, np.nan)
    mean_auc_z = ((mean_auc - mean_auc.mean(axis=0)) / spread).fillna(0.0)
    rss = regulon_specificity_scores(auc, cell_types).loc[mean_auc.index]
    tfs = list(dict.fromkeys(name.split("(")[0] for name in auc.columns))
    tfs = [tf for tf in tfs if tf in adata.var_names]
    expression = pd.DataFrame(dense(adata[:, tfs].X), index=adata.obs_names, columns=tfs)
    by_type = cell_types.to_numpy()
    summaries = {
        "mean_auc": mean_auc,
        "mean_auc_z": mean_auc_z,
        "rss": rss,
        "tf_expression": expression.groupby(by_type).mean(),
        "tf_detected": (expression > 0).groupby(by_type).mean(),
    }
    for table in summaries.values():
        table.index.name = cell_type_key
        table.columns = table.columns.astype(str)
    adata.uns["regulon_summaries"] = {"cell_type_key": cell_type_key, **summaries}
    return summaries


def with_selection(adata: ad.AnnData, cells: Sequence[int], *, use_rep: str = "X_aucell") -> dict[str, pd.DataFrame]:
    """The tables of :func:`celltype_summaries` with one more row for an arbitrary set of cells.

    The row (named ``"selected (n cells)"``) holds, for the cells at positions ``cells`` (e.g. a lasso
    selection): their mean AUC, that mean z-scored on the cell types' scale (their mean and spread
    per regulon), the RSS of "selected vs all other cells", and the mean expression and detected
    fraction of each TF.

    Parameters
    ----------
    adata
        Cells with ``obsm[use_rep]`` and ``uns['regulon_summaries']`` from :func:`celltype_summaries`.
    cells
        Integer positions of the selected cells.
    """
    tables = {k: v for k, v in adata.uns["regulon_summaries"].items() if isinstance(v, pd.DataFrame)}
    cells = np.unique(np.asarray(cells, dtype=int))
    if not len(cells):
        return tables
    name = f"selected ({len(cells)} cells)"
    auc: pd.DataFrame = adata.obsm[use_rep]
    chosen = np.zeros(adata.n_obs, dtype=bool)
    chosen[cells] = True
    mean_auc = tables["mean_auc"]
    spread = mean_auc.std(axis=0, ddof=0).replace(0, np.nan)
    selected_auc = auc.iloc[cells].mean()
    labels = pd.Series(np.where(chosen, name, "other"), index=auc.index)
    rows = {
        "mean_auc": selected_auc,
        "mean_auc_z": ((selected_auc - mean_auc.mean(axis=0)) / spread).fillna(0.0),
        "rss": regulon_specificity_scores(auc, labels).loc[name],
    }
    if "tf_expression" in tables:
        tfs = list(tables["tf_expression"].columns)
        expression = dense(adata[cells, tfs].X)
        rows["tf_expression"] = pd.Series(expression.mean(axis=0), index=tfs)
        rows["tf_detected"] = pd.Series((expression > 0).mean(axis=0), index=tfs)
    return {
        kind: pd.concat([table, rows[kind].reindex(table.columns).to_frame(name).T]) if kind in rows else table
        for kind, table in tables.items()
    }


def top_regulons(summary: pd.DataFrame, n: int = 5) -> dict[str, list[str]]:
    """The ``n`` highest-scoring regulons of each cell type in a cell types × regulons table."""
    return {cell_type: list(row.nlargest(n).index) for cell_type, row in summary.iterrows()}
