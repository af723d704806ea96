"""gridapp's AUCell against pySCENIC's on every Kang 2018 PBMC (8,684 cells), one module per TF.

Both score the same log-normalised cells × genes matrix with the same seed and AUC threshold:
pySCENIC's ``aucell`` (full rankings, 2 worker processes) and ``gridapp.core.aucell.aucell``
(partial rankings of each cell's detected genes, 2 threads). Modules: for every TF of the SCENIC
human list present in the file, the TF and the 50 genes most correlated with it.
Last line: ``speedup_vs_pyscenic=X max_abs_diff=Y``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ctxcore.genesig import Regulon
from pyscenic.aucell import aucell as pyscenic_aucell

from gridapp.core.aucell import aucell
from gridapp.core.io import check_values, read_dataset
from gridapp.core.regulons import expression_frame
from gridapp.core.subset import normalise, read_tfs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KANG = SHARED / "singlecell" / "kang2018_muscat_ref_5donors.h5ad"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(KANG))
    parser.add_argument("--tfs", default=str(SHARED / "tfs" / "allTFs_hg38.txt"))
    parser.add_argument("--auc-threshold", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    adata, _ = read_dataset(args.input)
    normalise(adata, check_values(adata))
    tfs = [tf for tf in read_tfs(args.tfs) if tf in adata.var_names]
    modules = correlation_modules(adata, tfs)
    print(f"{adata.n_obs} cells × {adata.n_vars} genes, {len(modules)} modules, auc_threshold {args.auc_threshold}")

    started = time.perf_counter()
    aucell(adata[:50].copy(), modules, auc_threshold=args.auc_threshold, seed=0, n_threads=1)
    print(f"gridapp warm-up (numba compile or cache load) on 50 cells: {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    expected = pyscenic_aucell(
        expression_frame(adata), modules, auc_threshold=args.auc_threshold, seed=0, num_workers=args.workers
    )
    pyscenic_s = time.perf_counter() - started

    started = time.perf_counter()
    ours = aucell(adata, modules, auc_threshold=args.auc_threshold, seed=0, n_threads=args.workers)
    gridapp_s = time.perf_counter() - started

    difference = float(np.abs(ours.to_numpy() - expected.loc[ours.index, ours.columns].to_numpy()).max())
    print(f"pySCENIC aucell: {pyscenic_s:.2f} s   gridapp aucell: {gridapp_s:.3f} s")
    print(f"speedup_vs_pyscenic={pyscenic_s / gridapp_s:.1f} max_abs_diff={difference:.2e}")


if __name__ == "__main__":
    main()
