"""gridapp's AUCell against pySCENIC's and rustscenic's on every Kang 2018 PBMC (8,684 cells), one module per TF.

All score the same log-normalised cells × genes matrix with the same AUC threshold: pySCENIC's ``aucell``
(full rankings, seed 0, 2 worker processes, timed once), ``gridapp.core.aucell.aucell`` (partial rankings of
each cell's detected genes, seed 0, 2 threads) and rustscenic's ``aucell.score`` (2 Rayon threads). Modules:
for every TF of the SCENIC human list present in the file, the TF and the 50 genes most correlated with it
(weights 1, so rustscenic's unweighted gene sets are the same modules).

rustscenic runs in its own environment (``--rustscenic-python``, else ``$RUSTSCENIC_PYTHON``, else
``/work/rs-venv/bin/python`` when it exists) in a subprocess that reads the matrix and modules from files. After
a warm-up call in each process, gridapp and rustscenic take turns, one timed call each per repetition, so that
both see the same machine load; the medians are reported.
Last line: ``speedup_vs_pyscenic=X speedup_vs_rustscenic=Y max_abs_diff=Z rustscenic_max_abs_diff=W``
(the differences from pySCENIC's values; the rustscenic fields are left out when it is not found).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from ctxcore.genesig import Regulon
from pyscenic.aucell import aucell as pyscenic_aucell

from gridapp.core.aucell import aucell
from gridapp.core.io import check_values, read_dataset
from gridapp.core.regulons import expression_frame
from gridapp.core.subset import normalise, read_tfs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KANG = SHARED / "singlecell" / "kang2018_muscat_ref_5donors.h5ad"
RUSTSCENIC_VENV_PYTHON = Path("/work/rs-venv/bin/python")
#: run by rustscenic's Python: a warm-up call, then one timed call per line read, then the last AUC to a file
RUSTSCENIC_RUNNER = """
import json, sys, time
import numpy as np, scipy.sparse as sp
from rustscenic.aucell import score
folder = sys.argv[1]
setup = json.load(open(folder + "/setup.json"))
expression = (sp.load_npz(folder + "/expression.npz").tocsr(), setup["genes"])
score(expression, setup["modules"], top_frac=setup["auc_threshold"])
for _ in sys.stdin:
    started = time.perf_counter()
    auc = score(expression, setup["modules"], top_frac=setup["auc_threshold"])
    print(time.perf_counter() - started, flush=True)
np.savez(folder + "/auc.npz", values=auc.to_numpy(), regulons=np.array(auc.columns, dtype=str))
"""


def correlation_modules(adata, tfs: list[str], size: int = 50) -> list[Regulon]:
    """For each TF, a module of the TF and the ``size`` genes most correlated with it across cells."""
    matrix = adata.X.toarray()
    matrix = (matrix - matrix.mean(axis=0)) / (matrix.std(axis=0) + 1e-12)
    genes = np.asarray(adata.var_names)
    modules = []
    for tf in tfs:
        correlation = matrix.T @ matrix[:, list(genes).index(tf)] / len(matrix)
        top = genes[np.argsort(-correlation)[: size + 1]]
        modules.append(
            Regulon(
                name=f"{tf}(+)",
                gene2weight={gene: 1.0 for gene in top},
                transcription_factor=tf,
                gene2occurrence=[],
            )
        )
    return modules


def rustscenic_python(given: str | None) -> str | None:
    """The Python of rustscenic's environment (the option, ``$RUSTSCENIC_PYTHON``, the usual venv), if it exists."""
    python = given or os.environ.get("RUSTSCENIC_PYTHON") or str(RUSTSCENIC_VENV_PYTHON)
    if Path(python).exists():
        return python
    print(f"skipped: rustscenic (no Python at {python}; pass --rustscenic-python or set RUSTSCENIC_PYTHON)")
    return None


class Rustscenic:
    """rustscenic's ``aucell.score`` on the same matrix and modules, in a subprocess of its own environment."""

    def __init__(self, python: str, adata, modules: list[Regulon], auc_threshold: float, threads: int) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="bench-aucell-")
        sp.save_npz(f"{self.folder.name}/expression.npz", sp.csr_matrix(adata.X))
        setup = {
            "genes": list(adata.var_names),
            "modules": {module.name: list(module.gene2weight) for module in modules},
            "auc_threshold": auc_threshold,
        }
        Path(self.folder.name, "setup.json").write_text(json.dumps(setup))
        self.process = subprocess.Popen(
            [python, "-c", RUSTSCENIC_RUNNER, self.folder.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "RAYON_NUM_THREADS": str(threads)},
        )

    def timed_call(self) -> float:
        """Seconds of one ``score`` call (the first answer waits for the subprocess's start and warm-up)."""
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"rustscenic's subprocess ended (exit status {self.process.wait()})")
        return float(answer)

    def last_auc(self) -> pd.DataFrame:
        """The AUC of the last call (cells in the matrix's order); ends the subprocess."""
        self.process.stdin.close()
        if self.process.wait() != 0:
            raise RuntimeError(f"rustscenic's subprocess failed (exit status {self.process.returncode})")
        with np.load(f"{self.folder.name}/auc.npz") as saved:
            auc = pd.DataFrame(saved["values"], columns=saved["regulons"])
        self.folder.cleanup()
        return auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(KANG))
    parser.add_argument("--tfs", default=str(SHARED / "tfs" / "allTFs_hg38.txt"))
    parser.add_argument("--auc-threshold", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9, help="timed calls of gridapp and of rustscenic")
    parser.add_argument("--rustscenic-python", help="Python of rustscenic's environment")
    args = parser.parse_args()

    adata, _ = read_dataset(args.input)
    normalise(adata, check_values(adata))
    tfs = [tf for tf in read_tfs(args.tfs) if tf in adata.var_names]
    modules = correlation_modules(adata, tfs)
    print(f"{adata.n_obs} cells × {adata.n_vars} genes, {len(modules)} modules, auc_threshold {args.auc_threshold}")

    started = time.perf_counter()
    expected = pyscenic_aucell(
        expression_frame(adata), modules, auc_threshold=args.auc_threshold, seed=0, num_workers=args.workers
    )
    pyscenic_s = time.perf_counter() - started

    python = rustscenic_python(args.rustscenic_python)
    rustscenic = Rustscenic(python, adata, modules, args.auc_threshold, args.workers) if python else None
    started = time.perf_counter()
    aucell(adata[:50].copy(), modules, auc_threshold=args.auc_threshold, seed=0, n_threads=1)
    print(f"gridapp warm-up (numba compile or cache load) on 50 cells: {time.perf_counter() - started:.2f} s")
    aucell(adata, modules, auc_threshold=args.auc_threshold, seed=0, n_threads=args.workers)
    if rustscenic:
        rustscenic.timed_call()  # the subprocess's start and warm-up, then one call, not counted
    gridapp_times, rustscenic_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        ours = aucell(adata, modules, auc_threshold=args.auc_threshold, seed=0, n_threads=args.workers)
        gridapp_times.append(time.perf_counter() - started)
        if rustscenic:
            rustscenic_times.append(rustscenic.timed_call())
    gridapp_s = float(np.median(gridapp_times))

    truth = expected.loc[ours.index, ours.columns]
    difference = float(np.abs(ours.to_numpy() - truth.to_numpy()).max())
    print(f"pySCENIC aucell: {pyscenic_s:.2f} s (once)")
    print(f"gridapp aucell: median {gridapp_s:.3f} s of {' '.join(f'{t:.3f}' for t in gridapp_times)}")
    line = f"speedup_vs_pyscenic={pyscenic_s / gridapp_s:.1f}"
    if rustscenic:
        rustscenic_s = float(np.median(rustscenic_times))
        theirs = rustscenic.last_auc()
        rustscenic_difference = float(np.abs(theirs.to_numpy() - truth[theirs.columns].to_numpy()).max())
        print(f"rustscenic aucell: median {rustscenic_s:.3f} s of {' '.join(f'{t:.3f}' for t in rustscenic_times)}")
        line += f" speedup_vs_rustscenic={rustscenic_s / gridapp_s:.2f}"
    line += f" max_abs_diff={difference:.2e}"
    if rustscenic:
        line += f" rustscenic_max_abs_diff={rustscenic_difference:.2e}"
    print(line)


if __name__ == "__main__":
    main()
