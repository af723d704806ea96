"""Read a BEELINE benchmark set (GENELink's redistribution, see ../shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from gridapp.core.errors import GridappError

NETWORKS = ("Specific", "Non-Specific", "STRING", "Lofgof")


def beeline_folder(root: str | Path, dataset_id: str) -> Path:
    """The folder of ``<cell>-<500|1000>-<Specific|Non-Specific|STRING|Lofgof>``, e.g. ``mDC-500-Specific``."""
    cell, _, rest = dataset_id.partition("-")
    size, _, network = rest.partition("-")
    if network not in NETWORKS or size not in ("500", "1000"):
        raise GridappError(f"Unknown BEELINE set {dataset_id!r}.", "Use <cell>-<500|1000>-<Specific|...>.")
    folder = Path(root) / "networks" / f"{network} Dataset" / cell / f"TFs+{size}"
    if not (folder / "BL--ExpressionData.csv.gz").is_file():
        raise GridappError(f"{dataset_id}: no expression file in {folder}.", "See ../shared/data/README.md.")
    return folder


def read_beeline(root: str | Path, dataset_id: str) -> tuple[ad.AnnData, list[str], pd.DataFrame]:
    """Cells × genes expression (log-normalised, as distributed), the set's TFs and its ground truth.

    Returns
    -------
    ``(adata, tfs, truth)`` with ``truth`` columns ``TF, target``.
    """
    folder = beeline_folder(root, dataset_id)
    expression = pd.read_csv(folder / "BL--ExpressionData.csv.gz", index_col=0)
    adata = ad.AnnData(expression.T.astype("float32"))
    tfs = [tf for tf in pd.read_csv(folder / "TF.csv.gz", index_col=0)["TF"].astype(str) if tf in adata.var_names]
    truth = pd.read_csv(folder / "BL--network.csv.gz")
    truth = truth.rename(columns={"Gene1": "TF", "Gene2": "target"})[["TF", "target"]].astype(str)
    return adata, tfs, truth
