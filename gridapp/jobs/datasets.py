"""What the dashboard may open: files under the configured data roots, nothing outside them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import anndata as ad
import h5py
import pandas as pd

from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.jobs.gate import FileGate
from gridapp.jobs.params import file_version

DATA_SUFFIXES = (".h5ad", ".loom", ".h5", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
#: obs columns with more distinct values than this are not offered as donor / cell-type columns.
MAX_CATEGORIES = 200


def list_files(roots: Sequence[str | Path], suffixes: Sequence[str] = DATA_SUFFIXES) -> list[Path]:
    """Files under ``roots`` ending in one of ``suffixes``, sorted; hidden files and folders, and what the
    :class:`~gridapp.jobs.gate.FileGate` over ``roots`` refuses (symlinks leaving them, FIFOs), are skipped."""
    gate = FileGate.over(roots)
    found = []
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(root).parts)  # e.g. cache scratch
            if not hidden and path.name.endswith(tuple(suffixes)):
                try:
                    found.append(gate.file(path))
                except GridappError:
                    continue
    return list(dict.fromkeys(found))


def obs_table(path: str | Path) -> pd.DataFrame:
    """The cell annotations (``obs``) of a dataset, read without loading the matrix when possible.

    Memoised per (file, modification time, size): the dashboard asks for it on every subset change.
    Treat the returned table as read-only.
    """
    path = Path(path)
    if not path.is_file():
        return read_dataset(path)[0].obs  # says what is wrong with the path
    return _read_obs(file_version(path))


@lru_cache(maxsize=16)
def _read_obs(version: tuple) -> pd.DataFrame:
    path = Path(version[0])
    if path.suffix == ".h5ad":
        try:
            with h5py.File(path, "r") as handle:
                return ad.io.read_elem(handle["obs"])
        except (OSError, KeyError):
            pass  # not a readable h5ad: read_dataset below says why
    return read_dataset(path)[0].obs


def layer_names(path: str | Path) -> list[str]:
    """The names of a dataset's ``layers`` (e.g. ``new``, ``unspliced``), read without the matrices when
    possible; memoised like :func:`obs_table`."""
    path = Path(path)
    if not path.is_file():
        return list(read_dataset(path)[0].layers)
    return _read_layer_names(file_version(path))


@lru_cache(maxsize=16)
def _read_layer_names(version: tuple) -> list[str]:
    path = Path(version[0])
    if path.suffix == ".h5ad":
        try:
            with h5py.File(path, "r") as handle:
                return sorted(handle["layers"]) if "layers" in handle else []
        except OSError:
            pass  # not a readable h5ad: read_dataset below says why
    return list(read_dataset(path)[0].layers)


def category_columns(obs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """obs columns fit to choose cells by (2 to MAX_CATEGORIES values), each with its cell counts."""
    columns = {}
    for name in obs.columns:
        counts = obs[name].astype(str).value_counts()
        if 2 <= len(counts) <= MAX_CATEGORIES:
            columns[name] = counts.sort_index().to_dict()
    return columns


def count_cells(obs: pd.DataFrame, selections: Sequence[tuple[str | None, Sequence[str]]]) -> int:
    """Cells kept by (column, values) selections; an empty value list keeps the whole column."""
    keep = pd.Series(True, index=obs.index)
    for column, values in selections:
        if column and values and column in obs:
            keep &= obs[column].astype(str).isin(list(values))
    return int(keep.sum())
