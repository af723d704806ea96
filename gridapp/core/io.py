"""Read any supported expression file into AnnData, find gene symbols, validate values.

Supported: h5ad, loom (pySCENIC / SCope style: row attribute ``Gene``, column attribute
``CellID``), 10x Genomics (``matrix.mtx[.gz]`` folder or ``.h5``), and CSV/TSV tables (cells ×
genes or genes × cells, detected and stated). The format is read from the file's content, not
its name, so an HTML page saved as ``.h5ad`` gets a clear message.
"""

from __future__ import annotations

import gzip
import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from gridapp.core.errors import GridappError

logger = logging.getLogger(__name__)

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ENSEMBL_ID = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
BARCODE = re.compile(r"[ACGT]{10,}")
TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}


@dataclass
class InputReport:
    """What :func:`read_dataset` found out about a file, for run summaries and the UI."""

    format: str
    orientation: str = ""
    gene_symbols: str = "var_names"
    values: str = ""
    notes: list[str] = field(default_factory=list)


def read_dataset(
    path: str | Path,
    *,
    gene_symbols: str | None = None,
    tfs: Iterable[str] = (),
) -> tuple[ad.AnnData, InputReport]:
    """Read an expression file into AnnData with gene symbols as ``var_names``.

    Parameters
    ----------
    path
        h5ad, loom, 10x ``.h5``, a 10x ``matrix.mtx`` folder, or a CSV/TSV table (may be gzipped).
    gene_symbols
        ``var`` column holding gene symbols. When ``None`` and ``var_names`` are not symbols
        (e.g. Ensembl IDs), the column that best matches ``tfs`` is used.
    tfs
        Transcription factor symbols; used to detect table orientation and the symbol column.

    Returns
    -------
    The AnnData (cells × genes, unique symbol ``var_names``) and an :class:`InputReport`.
    """
    path = Path(path)
    tfs = set(tfs)
    fmt = detect_format(path)
    report = InputReport(format=fmt)
    readers = {
        "h5ad": _read_h5ad,
        "loom": _read_loom,
        "10x-h5": _read_10x_h5,
        "10x-mtx": _read_10x_mtx,
        "table": lambda p: _read_table(p, tfs, report),
    }
    try:
        adata = readers[fmt](path)
    except GridappError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise GridappError(
            f"{path.name}: could not be read as {fmt} ({type(err).__name__}: {err}).",
            "The file may be truncated or written by an incompatible tool; re-export it.",
        ) from err
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise GridappError(
            f"{path.name}: holds {adata.n_obs} cells × {adata.n_vars} genes.",
            "Choose a file with expression data.",
        )
    if adata.raw is not None and _has_negatives(adata.X):
        adata = ad.AnnData(adata.raw.X, obs=adata.obs, var=adata.raw.var, obsm=adata.obsm)
        report.notes.append(f"{path.name}: X is scaled; using .raw instead.")
    use_symbols(adata, column=gene_symbols, tfs=tfs, report=report, source=path.name)
    report.values = check_values(adata, source=path.name)
    return adata, report


def detect_format(path: Path) -> str:
    """Tell the file format from content: ``h5ad``, ``loom``, ``10x-h5``, ``10x-mtx`` or ``table``."""
    if not path.exists():
        raise GridappError(f"{path}: no such file.", "Check the path.")
    if path.is_dir():
        if any((path / name).exists() for name in ("matrix.mtx", "matrix.mtx.gz")):
            return "10x-mtx"
        raise GridappError(
            f"{path}: is a folder without matrix.mtx(.gz).",
            "Point to a 10x folder (matrix.mtx, features.tsv, barcodes.tsv) or to a file.",
        )
    if path.stat().st_size == 0:
        raise GridappError(f"{path.name}: the file is empty.", "Upload the file again.")
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(path)
    text = gzip.decompress(_gunzip_head(path)) if head[:2] == b"\x1f\x8b" else head
    if _looks_like_markup(text):
        raise GridappError(
            f"{path.name}: is an HTML/XML page, not expression data.",
            "The download probably failed; fetch the real .h5ad/.loom/.csv file.",
        )
    if _looks_like_text_table(text):
        return "table"
    raise GridappError(
        f"{path.name}: is not h5ad, loom, 10x or a CSV/TSV table.",
        "Supported: .h5ad, .loom, 10x .h5 or matrix.mtx folder, .csv/.tsv (optionally .gz).",
    )


def expanded_bytes(path: str | Path, cap: int) -> int:
    """What the data in ``path`` takes once read and decompressed, in bytes, found without loading it.

    HDF5 files (h5ad, loom, 10x ``.h5``): the sum of their datasets' sizes, from metadata (a gzip-compressed
    matrix counts at its full size). Gzip files: decompressed as a stream and counted, stopping past ``cap``
    (a decompression bomb costs at most ``cap`` bytes of work, never that much memory). Other files: their
    size. A folder (10x ``matrix.mtx``): the sum of its files.

    Parameters
    ----------
    path
        The file or folder.
    cap
        Where counting may stop: the value returned is exact up to ``cap`` and above it past it.
    """
    path = Path(path)
    if path.is_dir():
        return sum(expanded_bytes(child, cap) for child in path.iterdir() if child.is_file())
    with open(path, "rb") as handle:
        head = handle.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        return _hdf5_bytes(path)
    if head[:2] == b"\x1f\x8b":
        return _gunzipped_bytes(path, cap)
    return path.stat().st_size


def _hdf5_bytes(path: Path) -> int:
    total = 0

    def add(_: str, item: object) -> None:
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += item.size * item.dtype.itemsize

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(add)
    except OSError as err:
        raise GridappError(
            f"{path.name}: a damaged or truncated HDF5 file ({err}).",
            "Copy or download the file again; check its size against the original.",
        ) from err
    return total


def _gunzipped_bytes(path: Path, cap: int) -> int:
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while total <= cap and (block := handle.read(1 << 20)):
                total += len(block)
    except (OSError, EOFError) as err:
        raise GridappError(f"{path.name}: is a broken gzip file ({err}).") from err
    return total


def _gunzip_head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a gzip file, re-compressed so that gzip.decompress reads them."""
    with gzip.open(path, "rb") as handle:
        try:
            return gzip.compress(handle.read(size))
        except (OSError, EOFError) as err:
            raise GridappError(f"{path.name}: is a broken gzip file ({err}).") from err


def _looks_like_markup(head: bytes) -> bool:
    start = head.lstrip().lower()
    return start.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))


def _looks_like_text_table(head: bytes) -> bool:
    text = head.decode("utf-8", errors="ignore")
    first = text.splitlines()[0] if text else ""
    return "\x00" not in text and any(sep in first for sep in (",", "\t"))


def _hdf5_kind(path: Path) -> str:
    try:
        with h5py.File(path, "r") as handle:
            keys = set(handle.keys())
            groups = [handle[k] for k in keys if isinstance(handle[k], h5py.Group)]
            has_barcodes = any("barcodes" in group for group in groups)
    except OSError as err:
        raise GridappError(
            f"{path.name}: a damaged or truncated HDF5 file ({err}).",
            "Copy or download the file again; check its size against the original.",
        ) from err
    if {"matrix", "row_attrs", "col_attrs"} <= keys:
        return "loom"
    if {"X", "obs", "var"} <= keys:
        return "h5ad"
    if "matrix" in keys or has_barcodes:
        return "10x-h5"
    raise GridappError(
        f"{path.name}: is an HDF5 file but neither h5ad, loom nor 10x h5 (top-level keys: {sorted(keys)}).",
        "Save the data with anndata.write_h5ad or loompy.",
    )


def _read_h5ad(path: Path) -> ad.AnnData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ad.read_h5ad(path)


def _read_loom(path: Path) -> ad.AnnData:
    with h5py.File(path, "r") as handle:
        row_attrs = set(handle["row_attrs"].keys())
        col_attrs = set(handle["col_attrs"].keys())
    gene_attr = next((a for a in ("Gene", "gene", "var_names", "Accession") if a in row_attrs), None)
    cell_attr = next((a for a in ("CellID", "cell_id", "obs_names") if a in col_attrs), None)
    if gene_attr is None:
        raise GridappError(
            f"{path.name}: the loom has no Gene row attribute (row attributes: {sorted(row_attrs)}).",
            "Write the loom with a 'Gene' row attribute holding gene symbols (pySCENIC/SCope layout).",
        )
    if cell_attr is None:
        raise GridappError(
            f"{path.name}: the loom has no CellID column attribute (column attributes: {sorted(col_attrs)}).",
            "Write the loom with a 'CellID' column attribute (pySCENIC/SCope layout).",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = ad.read_loom(path, sparse=True, obs_names=cell_attr, var_names=gene_attr, validate=False)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    # SCENIC looms hold structured attributes (RegulonsAUC, Regulons, Embeddings): not annotations
    adata.obs = adata.obs.loc[:, [c for c in adata.obs.columns if adata.obs[c].dtype.kind != "V"]]
    adata.var = adata.var.loc[:, [c for c in adata.var.columns if adata.var[c].dtype.kind != "V"]]
    return adata


def _read_10x_h5(path: Path) -> ad.AnnData:
    import scanpy as sc

    return sc.read_10x_h5(path)


def _read_10x_mtx(path: Path) -> ad.AnnData:
    import scanpy as sc

    return sc.read_10x_mtx(path, var_names="gene_symbols", make_unique=False)


def _read_table(path: Path, tfs: set[str], report: InputReport) -> ad.AnnData:
    name = path.name.lower().removesuffix(".gz")
    sep = "\t" if name.endswith((".tsv", ".tab", ".txt")) else ","
    try:
        frame = pd.read_csv(path, sep=sep, index_col=0)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise GridappError(f"{path.name}: not a readable {sep!r}-separated table ({err}).") from err
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise GridappError(
            f"{path.name}: columns {non_numeric[:3]} hold text, not numbers.",
            "A table needs one label column, then numbers only (cells × genes or genes × cells).",
        )
    cells_by_genes = _cells_are_rows(frame.index.astype(str), frame.columns.astype(str), tfs)
    report.orientation = "cells × genes" if cells_by_genes else "genes × cells (transposed on reading)"
    report.notes.append(f"{path.name}: read as {report.orientation}.")
    if not cells_by_genes:
        frame = frame.T
    return ad.AnnData(
        X=frame.to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=frame.index.astype(str)),
        var=pd.DataFrame(index=frame.columns.astype(str)),
    )


def _cells_are_rows(rows: pd.Index, columns: pd.Index, tfs: set[str]) -> bool:
    """Decide table orientation: the axis sharing more labels with the TF list holds genes."""
    row_tfs, col_tfs = len(tfs.intersection(rows)), len(tfs.intersection(columns))
    if row_tfs != col_tfs:
        return col_tfs > row_tfs
    row_barcodes = rows.str.contains(BARCODE).mean()
    col_barcodes = columns.str.contains(BARCODE).mean()
    if row_barcodes != col_barcodes:
        return row_barcodes > col_barcodes
    return len(columns) >= len(rows)


def use_symbols(
    adata: ad.AnnData,
    *,
    column: str | None = None,
    tfs: set[str] = frozenset(),
    report: InputReport | None = None,
    source: str = "data",
) -> None:
    """Make gene symbols the (unique) ``var_names`` in place.

    The original names move to ``var['gene_ids']`` when a symbol column is used. Duplicated
    symbols are made unique (``-1``, ``-2`` suffixes) with a warning.
    """
    report = report or InputReport(format="")
    if column is not None and column not in adata.var.columns:
        raise GridappError(
            f"{source}: no var column {column!r} for gene symbols.",
            f"Available var columns: {list(adata.var.columns)}.",
        )
    if column is None and not _names_are_symbols(adata.var_names, tfs):
        column = _find_symbol_column(adata.var, tfs)
        if column is None and _names_are_ids(adata.var_names):
            raise GridappError(
                f"{source}: var_names look like IDs (e.g. {list(adata.var_names[:2])}) "
                "and no var column holds symbols.",
                "Pass --gene-symbols COLUMN naming the var column with gene symbols.",
            )
    if column is not None:
        symbols = adata.var[column].astype(str)
        adata.var["gene_ids"] = adata.var_names.astype(str)
        adata.var_names = pd.Index(symbols.to_numpy())
        report.gene_symbols = f"var[{column!r}]"
        report.notes.append(f"Gene symbols taken from var[{column!r}].")
    duplicated = int(adata.var_names.duplicated().sum())
    if duplicated:
        message = f"{duplicated} duplicated gene symbols made unique (suffixes -1, -2, ...)."
        logger.warning(message)
        report.notes.append(message)
        adata.var_names_make_unique()


def _names_are_ids(names: pd.Index) -> bool:
    return names[:2000].astype(str).str.match(ENSEMBL_ID).mean() > 0.5


def _names_are_symbols(names: pd.Index, tfs: set[str]) -> bool:
    return not _names_are_ids(names) and (not tfs or len(tfs.intersection(names)) > 0)


def _find_symbol_column(var: pd.DataFrame, tfs: set[str]) -> str | None:
    """The non-ID text column holding most TFs (exactly, then ignoring case), then most distinct values.

    Ranking by case-insensitive hits and distinct values too lets a TF list of another species still
    find the symbol column, so that the TF check can name the real problem.
    """
    upper_tfs = {tf.upper() for tf in tfs}
    candidates = {}
    for name in var.columns:
        values = var[name]
        if not (pd.api.types.is_object_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        values = values.astype(str)
        if values.str.match(ENSEMBL_ID).mean() > 0.5 or values.nunique() < 0.5 * len(values):
            continue  # IDs, or a label such as feature_types
        candidates[name] = (
            len(tfs.intersection(values)),
            len(upper_tfs.intersection(values.str.upper())),
            values.nunique(),
        )
    return max(candidates, key=candidates.get) if candidates else None


def _has_negatives(matrix: np.ndarray | sp.spmatrix) -> bool:
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    return bool(values.size) and values.min() < 0


def check_values(adata: ad.AnnData, *, source: str = "data") -> str:
    """Validate the expression values and say whether they are raw counts or log-normalised.

    Returns
    -------
    ``"counts"`` or ``"log-normalised"``.

    Raises
    ------
    GridappError
        On NaN/inf, negative values (scaled data), or an all-zero matrix.
    """
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X).ravel()
    if values.size and not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise GridappError(
            f"{source}: the expression matrix holds {bad} NaN or infinite values.",
            "Provide raw counts or log-normalised values without missing entries.",
        )
    if values.size and values.min() < 0:
        raise GridappError(
            f"{source}: the expression matrix holds negative values (min {values.min():.3g}): "
            "it looks scaled or centred.",
            "Provide raw counts (preferred) or log-normalised values, e.g. from .raw or a counts layer.",
        )
    if not values.size or values.max() == 0:
        raise GridappError(f"{source}: every expression value is zero.", "Check the file.")
    sample = values[:1_000_000]
    return "counts" if np.allclose(sample, np.round(sample)) else "log-normalised"
