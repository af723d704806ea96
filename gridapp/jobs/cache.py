"""Content-addressed store of pipeline results: one folder per cache key, written atomically.

A result is stored under ``<root>/<key>/`` where ``key = RunParams.cache_key(input fingerprint)``.
It is first written to a hidden scratch folder and renamed into place, so a cancelled or failed
job never leaves a half-written entry, and a per-key lock makes two identical launches compute
once: the second waits for the first and then reads its entry.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import anndata as ad
import pandas as pd

from gridapp.core.atomic import leftovers, store_folder_once
from gridapp.core.errors import GridappError
from gridapp.core.export import REGULON_TARGETS
from gridapp.core.motifs import read_enriched_motifs
from gridapp.core.regulons import regulons_from_table
from gridapp.jobs.imports import check_paths, import_key, read_pyscenic_output
from gridapp.jobs.params import RunParams, file_fingerprint, file_version, known_fingerprint
from gridapp.jobs.pipeline import Result, write_outputs

ADJACENCIES = "adjacencies.parquet"
#: a stored result's content key (also the form of comparison and benchmark keys)
RESULT_KEY = re.compile(r"[0-9a-f]{32}")
#: one JSON line per computed result
COMPUTATIONS = "computations.jsonl"


@dataclass(frozen=True)
class CachedRun:
    """A stored result's address and what it was computed from."""

    key: str
    path: Path
    params: dict
    summary: dict
    created: float


class ResultCache:
    """Pipeline results on disk, addressed by content.

    Parameters
    ----------
    root
        Folder holding one sub-folder per result.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def key(self, params: RunParams) -> str:
        """The cache key of ``params`` (input fingerprint + parameters + code version)."""
        return params.cache_key(known_fingerprint(params.input))

    def path(self, key: str) -> Path:
        """Folder of the result stored under ``key`` (may not exist)."""
        if not is_key(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key

    def __contains__(self, key: object) -> bool:
        return is_key(key) and (self.root / key / "run.json").is_file()

    def get_or_compute(self, params: RunParams, compute: Callable[[RunParams], Result]) -> str:
        """Return the key of ``params``' result, computing and storing it first when absent.

        Each computation is appended to ``computations.jsonl`` (key, process, host, start, seconds).
        The input's identity (device, inode, size, modification time) is read before its fingerprint and
        again after the computation: a result computed while the file was replaced is not stored, so a key
        always names a result of the bytes it was computed from.
        """
        version = file_version(params.input)
        key = self.key(params)
        with self._lock(key):
            if key not in self:
                for stale in leftovers(self.path(key)):  # left by a job killed while storing
                    shutil.rmtree(stale, ignore_errors=True)
                started = time.time()
                result = compute(params)
                if file_version(params.input) != version:
                    raise GridappError(
                        f"{Path(params.input).name}: the file changed while the job ran; nothing was stored.",
                        "Launch again to compute on the file as it is now.",
                    )
                self.store(key, result, params=params.to_dict(), cell_type_key=params.cell_type_key)
                self._log_computation(key, started)
        return key

    def state(self, key: object) -> str:
        """``done`` (stored), ``running`` (a process, on any machine sharing the folder, is computing it)
        or ``idle`` (neither: not started yet, or its job died; the kernel drops a dead process's lock).
        Any other value (not a content key) is ``idle``; nothing is created for it."""
        if key in self:
            return "done"
        if not is_key(key) or not self._lock_path(key).is_file():  # never locked: not started (nothing created)
            return "idle"
        with open(self._lock_path(key)) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "done" if key in self else "running"
            fcntl.flock(handle, fcntl.LOCK_UN)
        return "done" if key in self else "idle"

    def computations(self) -> pd.DataFrame:
        """Every computation this cache has stored, oldest first (``key, pid, host, started, seconds``)."""
        log = self.root / COMPUTATIONS
        if not log.is_file():
            return pd.DataFrame(columns=["key", "pid", "host", "started", "seconds"])
        return pd.read_json(log, lines=True, dtype={"key": str})

    def _log_computation(self, key: str, started: float) -> None:
        entry = {
            "key": key,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": started,
            "seconds": round(time.time() - started, 3),
        }
        with open(self.root / COMPUTATIONS, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def store(self, key: str, result: Result, *, params: dict, cell_type_key: str | None) -> Path:
        """Write ``result`` (computed from ``params``) under ``key`` atomically (scratch folder, then rename)."""

        def write(scratch: Path) -> None:
            write_outputs(result, scratch, cell_type_key=cell_type_key)
            result.adjacencies.to_parquet(scratch / ADJACENCIES, index=False)
            (scratch / "params.json").write_text(json.dumps(params, indent=1), encoding="utf-8")

        return store_folder_once(self.path(key), write)

    def runs(self) -> list[CachedRun]:
        """Every complete stored result, newest first."""
        found = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not (folder / "run.json").is_file():
                continue
            found.append(
                CachedRun(
                    key=folder.name,
                    path=folder,
                    params=json.loads((folder / "params.json").read_text(encoding="utf-8")),
                    summary=json.loads((folder / "run.json").read_text(encoding="utf-8")),
                    created=(folder / "run.json").stat().st_mtime,
                )
            )
        return sorted(found, key=lambda run: -run.created)

    def import_pyscenic(
        self, folder: str | Path, expression: str | Path | None = None, cell_type_key: str | None = None
    ) -> str:
        """Store a pySCENIC output folder (see :func:`gridapp.jobs.imports.read_pyscenic_output`, which takes the
        same arguments) and return its key (:func:`~gridapp.jobs.imports.import_key`: the content of the folder
        and of the expression file, hashed once per version of the file, and the cell-type column)."""
        check_paths(folder, expression)
        dataset = known_fingerprint(expression) if expression else None
        key = import_key(file_fingerprint(folder), dataset, cell_type_key)
        with self._lock(key):
            if key not in self:
                result = read_pyscenic_output(folder, expression, cell_type_key)
                self.store(
                    key,
                    result,
                    params=result.summary["params"],
                    cell_type_key=result.summary["params"]["cell_type_key"],
                )
        return key

    def load(self, key: str) -> Result:
        """The stored result under ``key``, read once per process and kept in memory."""
        if key not in self:
            raise KeyError(key)
        return _load(self.path(key))

    def _lock_path(self, key: str) -> Path:
        return self.root / f".{key}.lock"

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with open(self._lock_path(key), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


#: what entries written by earlier versions call :data:`~gridapp.core.export.REGULON_TARGETS` (the same table)
LEGACY_REGULON_TARGETS = "regulons.csv"


@lru_cache(maxsize=8)
def _load(path: Path) -> Result:
    """Read the entry in ``path``, also one an earlier version wrote (its regulon table named ``regulons.csv``)."""
    regulon_table = path / REGULON_TARGETS
    if not regulon_table.is_file():
        regulon_table = path / LEGACY_REGULON_TARGETS
    table = pd.read_csv(regulon_table, float_precision="round_trip")  # the weights as computed
    result = Result(
        adata=ad.read_h5ad(path / "result.h5ad"),
        adjacencies=pd.read_parquet(path / ADJACENCIES),
        regulons=regulons_from_table(table),
        summary=json.loads((path / "run.json").read_text(encoding="utf-8")),
        motifs=read_enriched_motifs(path / "motifs.csv") if (path / "motifs.csv").is_file() else None,
    )
    result.regulon_targets = table  # what Result.regulon_targets would derive from the regulons: the file read
    return result


def is_key(key: object) -> bool:
    """Whether ``key`` has the form of a result's content key (32 lower-case hex digits)."""
    return isinstance(key, str) and RESULT_KEY.fullmatch(key) is not None
