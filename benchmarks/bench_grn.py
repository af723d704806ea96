"""gridapp's GRNBoost2 engine against arboreto's GRNBoost2 on the same data, cores and Dask cluster.

Default data: one Kang 2018 PBMC donor (1016, all 1,045 cells), genes = highly variable ∪ TFs as the
pipeline picks them, TFs from the SCENIC human list, scored against DoRothEA A–C. ``--quick``: the
CD14+ monocytes and B cells of that donor and 500 HVGs. ``--beeline mDC-500-Specific``: a BEELINE set
and its ground truth instead.

arboreto runs twice (seeds 0 and 1: the seed-to-seed overlap is the noise floor), the engine once
(seed 0), all on one local cluster of 2 single-threaded worker processes started before timing; the
kernels are first compiled (or loaded from numba's disk cache) in every worker, outside the timing.
Last line: ``speedup_vs_arboreto=X top1000_overlap=Y arboreto_seed_overlap=Z auprc_delta=W``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from gridapp.core.beeline import read_beeline
from gridapp.core.methods import infer
from gridapp.core.methods.boosting import warm_up
from gridapp.core.metrics import score_network
from gridapp.core.parallel import dask_client
from gridapp.core.priors import read_prior
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import prepare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def kang(quick: bool):
    """Donor 1016 of the Kang file as the pipeline prepares it, its TFs and DoRothEA A–C."""
    params = RunParams(
        input=str(SHARED / "singlecell" / "kang2018_muscat_ref_5donors.h5ad"),
        tfs=str(SHARED / "tfs" / "allTFs_hg38.txt"),
        donor_key="sample_id",
        donors=("1016",),
        cell_type_key="cluster_id",
        cell_types=("CD14+ Monocytes", "B cells") if quick else (),
        n_top_genes=500 if quick else 3000,
    )
    adata, coverage, _ = prepare(params, notes=[])
    prior = read_prior(SHARED / "priors" / "dorothea_hs.tsv.gz", confidence=("A", "B", "C"))
    return adata, list(coverage.present), prior[["TF", "target"]]


def top_overlap(a: pd.DataFrame, b: pd.DataFrame, n: int = 1000) -> float:
    """Fraction of the ``n`` strongest edges of ``a`` that are among the ``n`` strongest of ``b``."""
    edges = [set(zip(frame["TF"].head(n), frame["target"].head(n))) for frame in (a, b)]
    return len(edges[0] & edges[1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="495 cells, ~600 genes")
    parser.add_argument("--beeline", help="a BEELINE set id, e.g. mDC-500-Specific")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    if args.beeline:
        adata, tfs, truth = read_beeline(SHARED / "beeline", args.beeline)
        source = f"BEELINE {args.beeline}"
    else:
        adata, tfs, truth = kang(args.quick)
        source = "Kang donor 1016" + (" (CD14+ monocytes, B cells)" if args.quick else "")
    print(f"{source}: {adata.n_obs} cells × {adata.n_vars} genes, {len(tfs)} TFs")

    with dask_client(n_workers=args.workers) as client:
        client.run(warm_up)  # numba compiles (or loads its cache) in every worker before timing
        runs, seconds = {}, {}
        for name, method, seed in (
            ("engine", "grnboost2-fast", 0),
            ("arboreto seed 0", "grnboost2", 0),
            ("arboreto seed 1", "grnboost2", 1),
        ):
            started = time.perf_counter()
            runs[name] = infer(adata, tfs, method=method, seed=seed, client=client)
            seconds[name] = time.perf_counter() - started
            scores = score_network(runs[name], truth, tfs=tfs, genes=list(adata.var_names))
            runs[name].attrs["auprc"] = scores["auprc"]
            print(
                f"{name:16s} {seconds[name]:8.2f} s  {runs[name].attrs['trees_per_target']:6.1f} trees/target  "
                f"{len(runs[name]):8d} edges  AUROC {scores['auroc']:.4f}  AUPRC {scores['auprc']:.4f} "
                f"(random {scores['random_precision']:.4f})"
            )

    arboreto_s = (seconds["arboreto seed 0"] + seconds["arboreto seed 1"]) / 2
    overlap = top_overlap(runs["engine"], runs["arboreto seed 0"])
    floor = top_overlap(runs["arboreto seed 1"], runs["arboreto seed 0"])
    delta = runs["engine"].attrs["auprc"] - runs["arboreto seed 0"].attrs["auprc"]
    print(
        f"speedup_vs_arboreto={arboreto_s / seconds['engine']:.1f} top1000_overlap={overlap:.3f} "
        f"arboreto_seed_overlap={floor:.3f} auprc_delta={delta:+.4f}"
    )


if __name__ == "__main__":
    main()
