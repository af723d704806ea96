"""The whole pipeline, timed per step, with peak memory: all Kang 2018 PBMCs, or a 50,000-cell scale case.

Default: every cell of the Kang file (8,684 cells, 5 donors, 4 cell types), SCENIC human TFs,
``grnboost2-fast`` on a local cluster of 2 single-threaded workers, DoRothEA A–C pruning.
``--scale``: a synthetic 50,000 cells × 3,000 genes sparse count matrix (300 TFs driving the other
genes through a sparse random network, negative-binomial noise), pruned with its own planted network
as the prior. Peak RSS = this process's peak plus the largest peak of its (finished) Dask workers.
Last line: ``dataset=NAME cells=N genes=G total_s=X peak_rss_gb=Y``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from gridapp.core.parallel import dask_client
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def synthetic_counts(folder: Path, n_cells: int, n_genes: int, n_tfs: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write a sparse counts h5ad with planted TF → gene links, its TF list and the links as a prior."""
    rng = np.random.default_rng(seed)
    tf_activity = rng.gamma(0.6, 1.0, (n_cells, n_tfs))
    links = pd.DataFrame(
        {"tf": rng.integers(0, n_tfs, 8 * (n_genes - n_tfs)), "target": np.repeat(np.arange(n_genes - n_tfs), 8)}
    ).drop_duplicates()
    weights = sp.csr_matrix(
        (rng.uniform(0.2, 1.0, len(links)), (links["tf"], links["target"])), shape=(n_tfs, n_genes - n_tfs)
    )
    blocks = []
    for start in range(0, n_cells, 5000):  # in blocks of cells, so that the dense rates stay small
        activity = tf_activity[start : start + 5000]
        rate = np.hstack([activity, (weights.T @ activity.T).T + 0.05]) * 0.4
        blocks.append(sp.csr_matrix(rng.negative_binomial(2, 2 / (2 + rate)).astype(np.float32)))
    counts = sp.vstack(blocks, format="csr")
    names = [f"TF{i}" for i in range(n_tfs)] + [f"GENE{i}" for i in range(n_genes - n_tfs)]
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(np.array(["A", "B", "C", "D"])[tf_activity[:, :4].argmax(axis=1)])},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    path = folder / "scale.h5ad"
    ad.AnnData(counts, obs=obs, var=pd.DataFrame(index=names)).write_h5ad(path)
    tfs = folder / "scale_tfs.txt"
    tfs.write_text("\n".join(names[:n_tfs]) + "\n")
    prior = folder / "scale_prior.tsv"
    pd.DataFrame({"tf": [names[i] for i in links["tf"]], "target": [names[n_tfs + j] for j in links["target"]]}).assign(
        confidence="A", mor=1
    )[["tf", "confidence", "target", "mor"]].to_csv(prior, sep="\t", index=False)
    return path, tfs, prior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", action="store_true", help="50,000 synthetic cells × 3,000 genes")
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.scale:
            path, tfs, prior = synthetic_counts(Path(scratch), args.cells, 3000, 300)
            params = RunParams(
                input=str(path), tfs=str(tfs), cell_type_key="cell_type", prune="prior", prior=str(prior)
            )
            name = "synthetic"
        else:
            params = RunParams(
                input=str(SHARED / "singlecell" / "kang2018_muscat_ref_5donors.h5ad"),
                tfs=str(SHARED / "tfs" / "allTFs_hg38.txt"),
                cell_type_key="cluster_id",
                prune="prior",
                prior=str(SHARED / "priors" / "dorothea_hs.tsv.gz"),
                prior_confidence=("A", "B", "C"),
            )
            name = "kang2018"
        started = time.perf_counter()
        with dask_client(n_workers=args.workers) as client:
            result = run(params, client=client, cache_dir=scratch)
        total = time.perf_counter() - started
    peak_kb = sum(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    counts = result.summary["counts"]
    shape = f"{counts['cells']} cells × {counts['genes']} genes, {counts['tfs_in_data']} TFs"
    print(f"{shape} → {counts['regulons']} regulons")
    print("seconds per step:", ", ".join(f"{step} {s:.1f}" for step, s in result.summary["seconds"].items()))
    print(f"GRN: {result.summary['grn'].get('trees_per_target', 0):.1f} trees per target")
    print(
        f"dataset={name} cells={counts['cells']} genes={counts['genes']} total_s={total:.1f} "
        f"peak_rss_gb={peak_kb / 2**20:.2f}"
    )


if __name__ == "__main__":
    main()
