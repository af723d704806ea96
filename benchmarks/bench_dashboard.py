"""Server-side cost of a threshold change on a 1,000,000-edge result, and of reopening a cached result.

Builds a real result (demo donor, B cells + CD14+ monocytes), swaps in 1,000,000 adjacencies over
its genes, stores it in a fresh cache, then times what the dashboard's callbacks do when the
importance threshold moves: histogram + network (threshold, focus, cap, annotation, layout) and,
as the views are linked, the embedding / AUC distribution and the clustermap / TF heatmap.
Last line: ``threshold_update_ms_p50=X threshold_update_ms_p95=Y edges=1000000 cached_reopen_ms=Z``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gridapp.core.parallel import dask_client
from gridapp.figures.views import ViewState, cell_views, importance_view, network_view, summary_views
from gridapp.jobs import cache as cache_module
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run


def synthetic_adjacencies(genes: list[str], tfs: list[str], n_edges: int, seed: int = 0) -> pd.DataFrame:
    """``n_edges`` distinct TF → target edges with log-normal importances, sorted as infer() returns them."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(len(tfs) * len(genes), size=n_edges, replace=False)
    frame = pd.DataFrame(
        {
            "TF": np.asarray(tfs)[pairs // len(genes)],
            "target": np.asarray(genes)[pairs % len(genes)],
            "importance": rng.lognormal(0.0, 2.0, n_edges),
        }
    )
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()

    params = RunParams.demo(cell_types=("B cells", "CD14+ Monocytes"), n_top_genes=300)
    with tempfile.TemporaryDirectory() as scratch, dask_client(n_workers=2) as client:
        result = run(params, client=client, cache_dir=scratch)
        genes = [f"{g}" for g in result.adata.var_names] + [f"GENE{i}" for i in range(6000)]
        tfs = sorted({r.transcription_factor for r in result.regulons} | set(result.adjacencies["TF"]))
        result.adjacencies = synthetic_adjacencies(genes, tfs, args.edges)
        cache = ResultCache(Path(scratch) / "results")
        key = cache.get_or_compute(params, lambda _: result)

        cache_module._load.cache_clear()
        started = time.perf_counter()
        cache.load(key)
        cached_reopen_ms = (time.perf_counter() - started) * 1000

        regulons = list(result.adata.obsm["X_aucell"].columns)
        importance = result.adjacencies["importance"].to_numpy()
        thresholds = np.log10(np.quantile(importance, np.linspace(0.5, 0.999, args.repeats)))
        times = []
        for i, log_threshold in enumerate(thresholds):
            regulon = regulons[i % len(regulons)] if i % 2 else None
            started = time.perf_counter()
            stored = cache.load(key)
            state, _ = ViewState.from_values(
                {"key": key, "log_threshold": float(log_threshold), "regulon": regulon, "colour_by": "cluster_id"}
            ).validated(stored)
            importance_view(stored, state, network_view(stored, state))
            cell_views(stored, state)
            summary_views(stored, state)
            times.append((time.perf_counter() - started) * 1000)
    times = np.array(times[1:])  # the first call fills the histogram cache
    print(f"threshold changes timed: {len(times)}; mean {times.mean():.1f} ms, max {times.max():.1f} ms")
    print(
        f"threshold_update_ms_p50={np.percentile(times, 50):.1f} threshold_update_ms_p95="
        f"{np.percentile(times, 95):.1f} edges={args.edges} cached_reopen_ms={cached_reopen_ms:.1f}"
    )


if __name__ == "__main__":
    main()
