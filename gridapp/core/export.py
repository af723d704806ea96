"""Write results in the formats pySCENIC and SCope users already read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import pandas as pd
from ctxcore.genesig import Regulon
from pyscenic.export import export2loom

from gridapp.core.regulons import expression_frame, regulons_table


def write_regulons(regulons: Sequence[Regulon], out: Path) -> None:
    """Write ``regulons.csv`` (regulon, TF, target, weight), ``regulons.gmt`` and ``regulons.json``."""
    regulons_table(regulons).to_csv(out / "regulons.csv", index=False)
    with open(out / "regulons.gmt", "w", encoding="utf-8") as handle:
        for regulon in regulons:
            handle.write("\t".join([regulon.name, regulon.transcription_factor, *regulon.genes]) + "\n")
    payload = {
        regulon.name: {"TF": regulon.transcription_factor, "targets": dict(regulon.gene2weight)} for regulon in regulons
    }
    (out / "regulons.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")


def write_loom(
    adata: ad.AnnData,
    regulons: Sequence[Regulon],
    path: Path,
    *,
    cell_type_key: str | None = None,
    title: str = "gridapp",
) -> None:
    """Write a SCope-compatible loom (pySCENIC's ``export2loom``) with the AUC embeddings.

    Regulon names get the space SCope needs before the sign (``SPI1 (+)``).
    """
    renamed = [regulon.rename(regulon.name.replace("(", " (", 1)) for regulon in regulons]
    auc = adata.obsm["X_aucell"].copy()
    auc.columns = [name.replace("(", " (", 1) for name in auc.columns]
    embeddings = {
        label: pd.DataFrame(adata.obsm[key], index=adata.obs_names, columns=["_X", "_Y"])
        for label, key in (("UMAP (AUC)", "X_umap_aucell"), ("tSNE (AUC)", "X_tsne_aucell"))
        if key in adata.obsm
    }
    annotations = dict(zip(adata.obs_names, adata.obs[cell_type_key].astype(str))) if cell_type_key else None
    export2loom(
        expression_frame(adata),
        renamed,
        str(path),
        cell_annotations=annotations,
        title=title,
        nomenclature="gene symbols",
        embeddings=embeddings,
        auc_mtx=auc,
        auc_thresholds=pd.Series(adata.uns["aucell"]["thresholds"], index=auc.columns),
    )
