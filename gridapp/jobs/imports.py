"""Open an existing pySCENIC output as a result, without recomputing the network or the regulons.

A folder is read when it holds pySCENIC's adjacencies (``adj*.tsv`` / ``adj*.csv``: TF, target, importance,
from ``pyscenic grn``) and regulon activity, in either layout pySCENIC writes:

- a SCENIC loom (``export2loom``, or ``pyscenic aucell -o auc.loom``): expression, ``RegulonsAUC``,
  ``Regulons`` (membership), on/off thresholds and cluster names in ``MetaData``;
- an AUC table (``pyscenic aucell -o auc_mtx.csv``: cells × regulons, or ``.tsv``).

Regulons come from a regulon file beside it, whatever its name (:func:`gridapp.core.signatures.read_regulons`:
``pyscenic ctx``'s enriched-motif table, YAML, pickle, GMT or JSON, and gridapp's ``regulon_targets.csv``),
else from the loom's membership. Genes and cell types come from the loom, or from an expression file the
user names (a table-only folder has neither). On/off thresholds stored in the loom are kept; the others,
UMAP / tSNE and per-cell-type summaries are computed from the AUC matrix; nothing upstream of it is.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from ctxcore.genesig import Regulon

from gridapp import __version__
from gridapp.core import aucell, embed, summaries
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.regulons import regulons_from_table
from gridapp.core.signatures import (
    REGULON_FILE_HINT,
    SIGNED_NAME,
    TABLE_SUFFIXES,
    pyscenic_name,
    read_regulons,
    regulon_file_kind,
    table_separator,
)
from gridapp.jobs.params import content_key, file_fingerprint
from gridapp.jobs.pipeline import Result

CELL_TYPE_KEY = "cell_type"
#: adjacency and AUC tables: .csv / .tsv, gzipped or not
TABLE_FILE_SUFFIXES = tuple(f"{suffix}{gz}" for suffix in TABLE_SUFFIXES for gz in ("", ".gz"))
#: regulon files by preference: those with every target's weight first
REGULON_KINDS = ("table", "motifs", "yaml", "pickle", "gmt", "json")
NO_EXPRESSION = (
    "No expression: genes and cell types are unknown. Open the folder again with the expression file the AUC "
    "matrix was computed from."
)


@dataclass
class Activity:
    """Regulon activity as a folder holds it.

    Attributes
    ----------
    auc
        Cells × regulons (names as :func:`~gridapp.core.signatures.pyscenic_name` makes them).
    source
        The file it was read from.
    thresholds
        On/off thresholds stored with it (a SCENIC loom's ``regulonThresholds``), by regulon.
    adata
        The loom's cells and expression (with ``obs['cell_type']`` from its clustering); ``None`` for a table.
    regulons
        The loom's regulon membership (weight 1); ``None`` for a table.
    """

    auc: pd.DataFrame
    source: Path
    thresholds: pd.Series
    adata: ad.AnnData | None = None
    regulons: list[Regulon] | None = None


def find(folder: Path, prefix: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first file in ``folder`` whose name starts with ``prefix`` and ends with one of ``suffixes``."""
    return next(iter(_files(folder, prefix, suffixes)), None)


def _files(folder: Path, prefix: str, suffixes: tuple[str, ...]) -> list[Path]:
    return [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name.lower().startswith(prefix) and p.name.lower().endswith(suffixes)
    ]


def _auc_tables(folder: Path) -> list[Path]:
    """``*auc*.csv`` / ``.tsv`` (pySCENIC's ``auc_mtx.csv``), not gridapp's on/off ``auc_binary.csv``."""
    names = ((p, p.name.lower()) for p in _files(folder, "", TABLE_FILE_SUFFIXES))
    return [p for p, name in names if "auc" in name and "binar" not in name]


def is_pyscenic_output(folder: Path) -> bool:
    """Whether ``folder`` holds the files :func:`read_pyscenic_output` needs (told from their names)."""
    return (
        folder.is_dir()
        and find(folder, "adj", TABLE_FILE_SUFFIXES) is not None
        and (find(folder, "", (".loom",)) is not None or bool(_auc_tables(folder)))
    )


def import_key(folder: str, expression: str | None, cell_type_key: str | None) -> str:
    """The cache key of a folder's import from the fingerprints (:func:`~gridapp.jobs.params.file_fingerprint`)
    of the folder and of the expression file (``None``: none), the cell-type column and the code version."""
    payload = {"folder": folder, "expression": expression, "cell_type_key": cell_type_key, "version": __version__}
    return content_key(payload)


def check_paths(folder: str | Path, expression: str | Path | None = None) -> None:
    """Refuse a ``folder`` that is not one, and an ``expression`` file that does not exist."""
    if not Path(folder).is_dir():
        raise GridappError(f"{Path(folder).name}: no such folder.", "Choose a folder of pySCENIC outputs.")
    if expression and not Path(expression).exists():
        raise GridappError(f"{Path(expression).name}: no such expression file.", "Check the path.")


def read_pyscenic_output(
    folder: str | Path, expression: str | Path | None = None, cell_type_key: str | None = None
) -> Result:
    """Read a pySCENIC output folder into a :class:`~gridapp.jobs.pipeline.Result`.

    Parameters
    ----------
    folder
        pySCENIC's outputs (see the module's description).
    expression
        A dataset (any format :func:`~gridapp.core.io.read_dataset` reads) holding every cell of the AUC
        matrix: its genes and cells replace the loom's, which a table-only folder lacks.
    cell_type_key
        ``obs`` column of ``expression`` with the cell types.

    Raises
    ------
    GridappError
        Naming the file and what to do, for anything missing or unreadable.
    """
    check_paths(folder, expression)
    folder = Path(folder)
    adjacency_file = find(folder, "adj", TABLE_FILE_SUFFIXES)
    if adjacency_file is None:
        raise GridappError(
            f"{folder.name}: no adjacencies file (adj.tsv / adj.csv).",
            "Add the output of `pyscenic grn` to the folder.",
        )
    adjacencies = _read_adjacencies(adjacency_file)
    activity = _read_activity(folder)
    regulon_file = _regulon_file(folder)
    regulons = _scored_regulons(activity, regulon_file)
    adata = _cells(activity, Path(expression), cell_type_key) if expression else activity.adata
    adata = adata if adata is not None else ad.AnnData(obs=pd.DataFrame(index=activity.auc.index))
    adata.obsm["X_aucell"] = activity.auc.set_axis(adata.obs_names)
    adata.uns["aucell"] = {"regulons": list(activity.auc.columns), "auc_threshold": float("nan"), "seed": 0}
    aucell.binarize(adata, known=activity.thresholds)
    kept = int(activity.thresholds.index.isin(activity.auc.columns).sum())
    embed.embed_auc(adata)
    key = cell_type_key if expression else CELL_TYPE_KEY  # the loom's clustering, when it has one
    key = key if key in adata.obs else None
    sources = [p for p in (adjacency_file, regulon_file, activity.source, expression) if p]
    notes = [
        f"Imported from {', '.join(Path(p).name for p in sources)}; not recomputed.",
        _threshold_note(kept, len(activity.auc.columns), activity.source),
    ]
    if expression:
        notes.append(f"Genes and cells from {Path(expression).name}" + (f", cell types from {key!r}." if key else "."))
    summary = _summary(folder, expression, adata, cell_type_key=key, adjacencies=len(adjacencies), notes=notes)
    return Result(adata=adata, adjacencies=adjacencies, regulons=regulons, summary=summary)


def _summary(
    folder: Path,
    expression: str | Path | None,
    adata: ad.AnnData,
    *,
    cell_type_key: str | None,
    adjacencies: int,
    notes: list[str],
) -> dict:
    """``run.json`` of an import: what it was read from, its counts and per-cell-type tops (with cell types)."""
    tables = summaries.celltype_summaries(adata, cell_type_key) if cell_type_key else {}
    return {
        "input": {"path": str(folder), "sha256": file_fingerprint(folder), "format": "pySCENIC output"},
        "params": {
            "input": str(folder),
            "expression": str(expression) if expression else None,
            "method": "imported",
            "prune": "imported",
            "seed": 0,
            "cell_types": [],
            "prior": None,
            "prior_confidence": [],
            "cell_type_key": cell_type_key,
        },
        "counts": {
            "cells": adata.n_obs,
            "genes": adata.n_vars,
            "adjacencies": adjacencies,
            "regulons": adata.obsm["X_aucell"].shape[1],
        },
        "aucell": {"auc_threshold": None},
        "top_regulons": {name: summaries.top_regulons(tables[name]) for name in ("rss", "mean_auc_z") if tables},
        "seconds": {},
        "notes": notes,
        "warnings": [] if adata.n_vars else [NO_EXPRESSION],
    }


@contextmanager
def _reading(path: Path, what: str, hint: str) -> Iterator[None]:
    """Any failure to read ``path`` as ``what`` becomes a GridappError naming the file and what to do."""
    try:
        yield
    except GridappError:
        raise
    except Exception as err:  # a user's file fails in each reader's own way (pandas, h5py, zlib, JSON)
        raise GridappError(f"{path.name}: cannot be read as {what} ({type(err).__name__}: {err}).", hint) from err


def _read_adjacencies(path: Path) -> pd.DataFrame:
    hint = "Give the table `pyscenic grn` wrote (TF, target, importance), unchanged."
    with _reading(path, "adjacencies", hint):
        # as pySCENIC's load_adjacencies: a gene named NA stays a gene
        table = pd.read_csv(path, sep=table_separator(path), keep_default_na=False)
        if not {"TF", "target", "importance"} <= set(table.columns):
            raise GridappError(
                f"{path.name}: needs columns TF, target, importance (found {list(table.columns)[:5]}).", hint
            )
        table = table[["TF", "target", "importance"]].astype({"TF": str, "target": str, "importance": float})
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def _read_activity(folder: Path) -> Activity:
    """The folder's SCENIC loom (the first by name), else its AUC table."""
    looms = [p for p in _files(folder, "", (".loom",)) if _is_scenic_loom(p)]
    if looms:
        return _read_scenic_loom(looms[0])
    tables = _auc_tables(folder)
    if not tables:
        raise GridappError(
            f"{folder.name}: no regulon activity (an AUC table such as auc_mtx.csv, or a SCENIC loom).",
            "Add the output of `pyscenic aucell` (-o auc_mtx.csv or -o auc.loom) or of export2loom.",
        )
    return _read_auc_table(tables[0])


def _is_scenic_loom(path: Path) -> bool:
    hint = "Write the loom again (export2loom or `pyscenic aucell -o auc.loom`)."
    with _reading(path, "a loom", hint), h5py.File(path, "r") as handle:
        return "col_attrs/RegulonsAUC" in handle


def _read_auc_table(path: Path) -> Activity:
    hint = "Give the AUC matrix `pyscenic aucell -o auc_mtx.csv` wrote (cells × regulons, cell IDs first), unchanged."
    with _reading(path, "an AUC matrix", hint):
        table = pd.read_csv(path, sep=table_separator(path), index_col=0, float_precision="round_trip")
        if _are_regulon_names(table.index) and not _are_regulon_names(table.columns):  # `pyscenic aucell -t`
            table = table.T
        table = table.astype(float)
    if table.empty:
        raise GridappError(f"{path.name}: holds no AUC values.", hint)
    return Activity(auc=_named_auc(table, path), source=path, thresholds=pd.Series(dtype=float))


def _are_regulon_names(names: pd.Index) -> bool:
    return len(names) > 0 and all(SIGNED_NAME.match(pyscenic_name(n)) for n in names.astype(str))


def _named_auc(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``table`` with pySCENIC's regulon names and string cell IDs; two columns of one name are refused."""
    table = table.set_axis([pyscenic_name(c) for c in table.columns], axis=1).set_axis(table.index.astype(str))
    if not table.columns.is_unique:
        twice = sorted(set(table.columns[table.columns.duplicated()]))
        raise GridappError(
            f"{path.name}: regulons named twice once their names are written alike: {', '.join(twice[:5])}.",
            "Give each regulon its own name (TF(+) / TF(-)).",
        )
    return table


def _read_scenic_loom(path: Path) -> Activity:
    import loompy  # 2 s of imports a process opening no loom skips

    adata, _ = read_dataset(path)
    with _reading(path, "a SCENIC loom", "Write the loom again with export2loom or `pyscenic aucell -o auc.loom`."):
        with loompy.connect(str(path), mode="r", validate=False) as loom:
            auc_array = loom.ca["RegulonsAUC"]
            membership = loom.ra["Regulons"] if "Regulons" in loom.ra else None  # noqa: SIM401  (no .get)
            metadata = _metadata(loom.attrs.get("MetaData", "{}"))
            cluster_ids = loom.ca["ClusterID"] if "ClusterID" in loom.ca else None  # noqa: SIM401  (no .get)
            genes = np.asarray(loom.ra["Gene"]).astype(str)
        auc = _named_auc(pd.DataFrame({n: auc_array[n] for n in auc_array.dtype.names}, index=adata.obs_names), path)
        clusters = {c["id"]: c["description"] for c in (metadata.get("clusterings") or [{}])[0].get("clusters", [])}
        stored = {pyscenic_name(t["regulon"]): float(t["defaultThresholdValue"]) for t in _thresholds(metadata)}
    if cluster_ids is not None and clusters:
        adata.obs[CELL_TYPE_KEY] = pd.Categorical([clusters.get(int(i), str(i)) for i in cluster_ids])
    regulons = None
    if membership is not None:
        table = pd.DataFrame(
            [
                (pyscenic_name(name), pyscenic_name(name).split("(")[0], gene, 1.0)
                for name in membership.dtype.names
                for gene in genes[membership[name] > 0]
            ],
            columns=["regulon", "TF", "target", "weight"],
        )
        regulons = regulons_from_table(table)
    thresholds = pd.Series({name: value for name, value in stored.items() if name in auc.columns}, dtype=float)
    return Activity(auc=auc, source=path, thresholds=thresholds, adata=adata, regulons=regulons)


def _metadata(raw: str | bytes) -> dict:
    """A loom's ``MetaData``: plain JSON, or base64(zlib(JSON)) as pySCENIC's export2loom writes it."""
    raw = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return json.loads(zlib.decompress(base64.b64decode(raw)))


def _thresholds(metadata: dict) -> list[dict]:
    """The ``regulonThresholds`` entries of a loom's metadata that hold a threshold."""
    return [
        entry
        for entry in metadata.get("regulonThresholds") or []
        if isinstance(entry, dict) and "regulon" in entry and entry.get("defaultThresholdValue") is not None
    ]


def _regulon_file(folder: Path) -> Path | None:
    """The folder's regulon file: by kind (:data:`REGULON_KINDS`), then by name."""
    others = [p for p in _files(folder, "", ("",)) if not p.name.lower().startswith("adj")]
    auc_tables = set(_auc_tables(folder))
    kinds = [(_kind(path), path) for path in others if path not in auc_tables]
    candidates = [(REGULON_KINDS.index(kind), path) for kind, path in kinds if kind is not None]
    return min(candidates)[1] if candidates else None


def _kind(path: Path) -> str | None:
    with _reading(path, "a table", REGULON_FILE_HINT):
        return regulon_file_kind(path)


def _scored_regulons(activity: Activity, regulon_file: Path | None) -> list[Regulon]:
    """The regulons of the AUC matrix's columns, in its order, from ``regulon_file`` (else the loom's
    membership); others it defines are left out."""
    if regulon_file is not None:
        regulons = read_regulons(regulon_file)
    elif activity.regulons is not None:
        regulons = activity.regulons
    else:
        raise GridappError(
            f"{activity.source.parent.name}: no regulon definitions beside {activity.source.name}.",
            REGULON_FILE_HINT,
        )
    by_name = {regulon.name: regulon for regulon in regulons}
    undefined = [name for name in activity.auc.columns if name not in by_name]
    if undefined:
        defined_in = regulon_file.name if regulon_file else f"{activity.source.name}'s Regulons"
        raise GridappError(
            f"{activity.source.name}: {len(undefined)} of its {activity.auc.shape[1]} regulons have no definition "
            f"in {defined_in} (e.g. {', '.join(undefined[:3])}).",
            "Put beside it the regulon file `pyscenic aucell` was given for this AUC matrix.",
        )
    return [by_name[name] for name in activity.auc.columns]


def _cells(activity: Activity, path: Path, cell_type_key: str | None) -> ad.AnnData:
    """The cells of the AUC matrix from the expression file ``path``, in its order."""
    adata, _ = read_dataset(path)
    cells = activity.auc.index
    missing = cells.difference(adata.obs_names)
    if len(missing):
        raise GridappError(
            f"{path.name}: lacks {len(missing):,} of the {len(cells):,} cells of {activity.source.name} "
            f"(e.g. {', '.join(missing[:3])}).",
            "Choose the expression file the AUC matrix was computed from (the same cell IDs).",
        )
    chosen = adata[adata.obs_names.isin(cells)]
    if not chosen.obs_names.is_unique:
        twice = sorted(set(chosen.obs_names[chosen.obs_names.duplicated()]))
        raise GridappError(
            f"{path.name}: cell IDs appear twice (e.g. {', '.join(twice[:3])}).", "Give each cell its own ID."
        )
    if cell_type_key is not None and cell_type_key not in adata.obs:
        raise GridappError(
            f"{path.name}: no cell-type column {cell_type_key!r} (columns: {', '.join(map(str, adata.obs.columns))}).",
            "Choose one of its columns, or none.",
        )
    return chosen[cells].copy()


def _threshold_note(kept: int, total: int, source: Path) -> str:
    parts = [f"{kept} kept as stored in {source.name}"] if kept else []
    parts += [f"{total - kept} computed with pySCENIC's rule (binarize)"] if kept < total else []
    return f"On/off thresholds of the {total} regulons: {', '.join(parts)}."
