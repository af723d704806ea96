"""Write results in the formats pySCENIC and SCope users already read.

pySCENIC's ``load_signatures`` reads ``regulons.yaml`` (every target's weight and the regulon's
context) and ``regulons.gmt`` (genes only); gridapp's own long table is ``regulon_targets.csv``, a name
pySCENIC does not give its files (its ``regulons.csv`` is the enriched-motif table of ``pyscenic ctx``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import anndata as ad
import pandas as pd
from ctxcore.genesig import Regulon
from pyscenic.utils import save_to_yaml

from gridapp.core.regulons import expression_frame, regulons_table

#: gridapp's regulon table (regulon, TF, target, weight)
REGULON_TARGETS = "regulon_targets.csv"
#: the regulons as pySCENIC's ``ctx`` writes them to YAML
REGULONS_YAML = "regulons.yaml"
#: the regulons as gene sets (name, TF, genes)
REGULONS_GMT = "regulons.gmt"


def write_regulons(regulons: Sequence[Regulon], out: Path) -> None:
    """Write :data:`REGULON_TARGETS`, :data:`REGULONS_GMT` and :data:`REGULONS_YAML` into ``out``.

    The YAML is pySCENIC's own (``pyscenic.utils.save_to_yaml``), with plain Python numbers and names
    so that it holds text rather than pickled NumPy scalars.
    """
    regulons_table(regulons).to_csv(out / REGULON_TARGETS, index=False)
    with open(out / REGULONS_GMT, "w", encoding="utf-8") as handle:
        for regulon in regulons:
            handle.write("\t".join([regulon.name, regulon.transcription_factor, *regulon.genes]) + "\n")
    save_to_yaml([_plain(regulon) for regulon in regulons], str(out / REGULONS_YAML))


def _plain(regulon: Regulon) -> Regulon:
    """``regulon`` with built-in ``str`` and ``float`` everywhere NumPy scalars may have come in."""
    return regulon.copy(
        name=str(regulon.name),
        transcription_factor=str(regulon.transcription_factor),
        context=frozenset(str(item) for item in regulon.context),
        gene2weight={str(gene): float(weight) for gene, weight in regulon.gene2weight.items()},
        gene2occurrence={str(gene): float(count) for gene, count in regulon.gene2occurrence.items()},
        score=float(regulon.score),
        nes=float(regulon.nes),
        orthologous_identity=float(regulon.orthologous_identity),
        similarity_qvalue=float(regulon.similarity_qvalue),
    )


def loom_writer() -> Callable[..., None]:
    """pySCENIC's ``export2loom``, imported on first use: with loompy, 2 s of imports that a process writing no
    loom skips (a dashboard calls this while warming up, so that the jobs it forks find it imported)."""
    from pyscenic.export import export2loom

    return export2loom


def write_loom(
    adata: ad.AnnData,
    regulons: Sequence[Regulon],
    path: Path,
    *,
    cell_type_key: str | None = None,
    title: str = "gridapp",
) -> None:
    """Write a SCope-compatible loom (pySCENIC's ``export2loom``) with the AUC embeddings.

    Regulon names get the space SCope needs before the sign (``SPI1 (+)``). The ``MetaData`` attribute is
    compressed as ``export2loom(compress=True)`` writes it (base64 of zlib of the JSON), the form pySCENIC's
    ``decompress_meta`` and the SCENIC protocol read; SCope reads it too. The expression is ``adata.X``, the
    matrix AUCell ranked.
    """
    export2loom = loom_writer()
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
        compress=True,
    )
