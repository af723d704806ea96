"""Open an existing pySCENIC output as a result, without recomputing the network or the regulons.

A folder is read when it holds pySCENIC's adjacencies (``adj*.tsv`` / ``adj*.csv``: TF, target,
importance) and either a SCope loom (``export2loom``: expression, ``Regulons``, ``RegulonsAUC``,
cluster names in ``MetaData``) or a regulon table (``regulons.csv`` or a ``.gmt``) with an AUC
matrix (``auc*.csv``, cells × regulons). On/off thresholds, UMAP / tSNE and per-cell-type
summaries are computed from the AUC matrix; nothing upstream of it is.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import anndata as ad
import loompy
import numpy as np
import pandas as pd
from ctxcore.genesig import GeneSignature

from gridapp.core import aucell, embed, summaries
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.regulons import regulons_from_table
from gridapp.jobs.params import file_fingerprint
from gridapp.jobs.pipeline import Result

CELL_TYPE_KEY = "cell_type"


def find(folder: Path, prefix: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first file in ``folder`` whose name starts with ``prefix`` and ends with one of ``suffixes``."""
    return next(
        (
            p
            for p in sorted(folder.iterdir())
            if p.name.lower().startswith(prefix) and p.name.lower().endswith(suffixes)
        ),
        None,
    )


def is_pyscenic_output(folder: Path) -> bool:
    """Whether ``folder`` holds the files :func:`read_pyscenic_output` needs."""
    return (
        folder.is_dir()
        and find(folder, "adj", (".tsv", ".csv", ".tsv.gz", ".csv.gz")) is not None
        and (find(folder, "", (".loom",)) is not None or find(folder, "auc", (".csv",)) is not None)
    )


def read_pyscenic_output(folder: str | Path) -> Result:
    """Read a pySCENIC output folder into a :class:`~gridapp.jobs.pipeline.Result`.

    Regulon names are normalised to pySCENIC's ``TF(+)`` (SCope's ``TF (+)`` loses its space).
    """
    folder = Path(folder)
    adjacency_file = find(folder, "adj", (".tsv", ".csv", ".tsv.gz", ".csv.gz"))
    if adjacency_file is None:
        raise GridappError(
            f"{folder.name}: no adjacencies file (adj.tsv / adj.csv).",
            "Add the output of `pyscenic grn` to the folder.",
        )
    adjacencies = _read_adjacencies(adjacency_file)
    loom = find(folder, "", (".loom",))
    if loom is not None:
        adata, regulons = _read_scope_loom(loom)
    else:
        adata, regulons = _read_tables(folder)
    auc = adata.obsm["X_aucell"]
    adata.uns["aucell"] = {"regulons": list(auc.columns), "auc_threshold": float("nan"), "seed": 0}
    aucell.binarize(adata)
    embed.embed_auc(adata)
    has_types = CELL_TYPE_KEY in adata.obs
    tables = summaries.celltype_summaries(adata, CELL_TYPE_KEY) if has_types else {}
    summary = {
        "input": {"path": str(folder), "sha256": file_fingerprint(folder), "format": "pySCENIC output"},
        "params": {
            "input": str(folder),
            "method": "imported",
            "prune": "imported",
            "seed": 0,
            "cell_types": [],
            "prior": None,
            "prior_confidence": [],
            "cell_type_key": CELL_TYPE_KEY if has_types else None,
        },
        "counts": {
            "cells": adata.n_obs,
            "genes": adata.n_vars,
            "adjacencies": len(adjacencies),
            "regulons": auc.shape[1],
        },
        "aucell": {"auc_threshold": None},
        "top_regulons": {name: summaries.top_regulons(tables[name]) for name in ("rss", "mean_auc_z") if tables},
        "seconds": {},
        "notes": [f"Imported from {', '.join(p.name for p in (adjacency_file, loom) if p)}; not recomputed."],
        "warnings": [],
    }
    return Result(adata=adata, adjacencies=adjacencies, regulons=regulons, summary=summary)


def _read_adjacencies(path: Path) -> pd.DataFrame:
    sep = "\t" if ".tsv" in path.name.lower() else ","
    table = pd.read_csv(path, sep=sep)
    if not {"TF", "target", "importance"} <= set(table.columns):
        raise GridappError(f"{path.name}: needs columns TF, target, importance (found {list(table.columns)[:5]}).")
    table = table[["TF", "target", "importance"]].astype({"TF": str, "target": str, "importance": float})
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def _pyscenic_name(name: str) -> str:
    return name.replace(" (", "(", 1)


def _read_scope_loom(path: Path) -> tuple[ad.AnnData, list]:
    adata, _ = read_dataset(path)
    with loompy.connect(str(path), mode="r", validate=False) as loom:
        if "RegulonsAUC" not in loom.ca or "Regulons" not in loom.ra:
            raise GridappError(
                f"{path.name}: not a SCENIC loom (no RegulonsAUC / Regulons attributes).",
                "Export it with pySCENIC's export2loom, or give adj + regulons + auc files.",
            )
        auc_array, membership = loom.ca["RegulonsAUC"], loom.ra["Regulons"]
        metadata = _metadata(loom.attrs.get("MetaData", "{}"))
        cluster_ids = loom.ca["ClusterID"] if "ClusterID" in loom.ca else None  # noqa: SIM401  (no .get)
        genes = loom.ra["Gene"]
    auc = pd.DataFrame({_pyscenic_name(n): auc_array[n] for n in auc_array.dtype.names}, index=adata.obs_names)
    adata.obsm["X_aucell"] = auc
    clusters = {c["id"]: c["description"] for c in (metadata.get("clusterings") or [{}])[0].get("clusters", [])}
    if cluster_ids is not None and clusters:
        adata.obs[CELL_TYPE_KEY] = pd.Categorical([clusters.get(int(i), str(i)) for i in cluster_ids])
    table = pd.DataFrame(
        [
            (_pyscenic_name(name), _pyscenic_name(name).split("(")[0], gene, 1.0)
            for name in membership.dtype.names
            for gene in np.asarray(genes)[membership[name] > 0]
        ],
        columns=["regulon", "TF", "target", "weight"],
    )
    return adata, regulons_from_table(table)


def _metadata(raw: str) -> dict:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return json.loads(zlib.decompress(base64.b64decode(raw)))


def _read_tables(folder: Path) -> tuple[ad.AnnData, list]:
    auc_file = find(folder, "auc", (".csv",))
    regulon_csv, gmt = folder / "regulons.csv", find(folder, "", (".gmt",))
    if regulon_csv.is_file():
        regulons = regulons_from_table(pd.read_csv(regulon_csv))
    elif gmt is not None:
        signatures = GeneSignature.from_gmt(str(gmt), field_separator="\t", gene_separator="\t")
        regulons = regulons_from_table(
            pd.DataFrame(
                [(_pyscenic_name(s.name), s.name.split("(")[0].strip(), g, 1.0) for s in signatures for g in s.genes],
                columns=["regulon", "TF", "target", "weight"],
            )
        )
    else:
        raise GridappError(f"{folder.name}: no regulons (regulons.csv or .gmt) beside the AUC matrix.")
    auc = pd.read_csv(auc_file, index_col=0)
    auc.columns = [_pyscenic_name(c) for c in auc.columns]
    adata = ad.AnnData(obs=pd.DataFrame(index=auc.index.astype(str)))
    adata.obsm["X_aucell"] = auc.set_axis(adata.obs_names)
    return adata, [r for r in regulons if r.name in set(auc.columns)] or regulons
