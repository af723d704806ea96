"""gridapp's GRNBoost2 engine against arboreto's GRNBoost2 and rustscenic's on the same data and cores.

Default data: one Kang 2018 PBMC donor (1016, all 1,045 cells), genes = highly variable ∪ TFs as the
pipeline picks them, TFs from the SCENIC human list, scored against DoRothEA A–C. ``--quick``: the
CD14+ monocytes and B cells of that donor and 500 HVGs. ``--beeline mDC-500-Specific``: a BEELINE set
and its ground truth instead.

arboreto runs twice (seeds 0 and 1: the seed-to-seed overlap is the noise floor) on a local cluster of
``--workers`` single-threaded worker processes started before timing; then the engine (seed 0) with the
same client, which for a local cluster means ``--workers`` threads of this process (the same cores), its
kernels first compiled (or loaded from numba's disk cache) outside the timing. ``--arboreto-dir DIR``
reuses arboreto networks saved there by an earlier run (their seconds too), or saves them there: for
iterating on the engine; a reported result runs arboreto.

rustscenic (``rustscenic.grn.infer``, not a dependency of gridapp) runs in its own interpreter
(``--rustscenic-python``, default ``$RUSTSCENIC_PYTHON``, else ``/work/rs-venv/bin/python`` when present)
on the same matrix, gene and TF names passed through files, with ``RAYON_NUM_THREADS`` = ``--workers``;
the time is that of the ``infer`` call alone. It runs with its defaults (what its users get: early stop
mode ``arboreto``), then once more with each other early-stop mode for information (an extra line with
its trees per target); the speed-up is against the default run. The engine and rustscenic's default run
take turns, ``--repeats`` times each (both print every time), and each side's median is compared: this
machine's speed drifts by ±15 % over minutes, and turns put a slow spell on both sides.

Last line: ``speedup_vs_arboreto=X top1000_overlap=Y arboreto_seed_overlap=Z auprc_delta=W
speedup_vs_rustscenic=R`` (the last field only when rustscenic ran).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import anndata as ad
import pandas as pd
import scipy.sparse as sp

from gridapp.core.beeline import read_beeline
from gridapp.core.methods import infer
from gridapp.core.methods.boosting import warm_up
from gridapp.core.metrics import score_network
from gridapp.core.parallel import dask_client
from gridapp.core.priors import read_prior
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import prepare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RUSTSCENIC_PYTHON = Path("/work/rs-venv/bin/python")
#: early-stop modes of rustscenic 0.5.1, its default first
RUSTSCENIC_MODES = ("arboreto", "legacy_inbag")
#: runs rustscenic in an early-stop mode, returns its network
Runner = Callable[[str], pd.DataFrame]
#: run by rustscenic's interpreter: argv = folder with matrix.npz and names.json, early-stop mode
RUSTSCENIC_SCRIPT = """
import json, sys, time
from pathlib import Path
import scipy.sparse as sp
import rustscenic.grn

folder, mode = Path(sys.argv[1]), sys.argv[2]
names = json.loads((folder / "names.json").read_text())
matrix = sp.load_npz(folder / "matrix.npz")
started = time.perf_counter()
edges = rustscenic.grn.infer((matrix, names["genes"]), names["tfs"], early_stop_mode=mode, verbose=False)
seconds = time.perf_counter() - started
edges[["TF", "target", "importance"]].to_parquet(folder / f"edges_{mode}.parquet")
fit = edges.attrs["grn_fit"]
summary = {"seconds": seconds, "trees_per_target": fit["fitted_trees_mean"], "version": rustscenic.__version__}
(folder / f"summary_{mode}.json").write_text(json.dumps(summary))
"""


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


def rustscenic_python(option: str | None) -> Path | None:
    """rustscenic's interpreter: the option, else ``$RUSTSCENIC_PYTHON``, else the default venv's if present."""
    chosen = option or os.environ.get("RUSTSCENIC_PYTHON")
    if chosen:
        return Path(chosen)
    return RUSTSCENIC_PYTHON if RUSTSCENIC_PYTHON.exists() else None


@contextmanager
def rustscenic_runner(python: Path, adata: ad.AnnData, tfs: list[str], threads: int) -> Iterator[Runner]:
    """A function that runs rustscenic on ``adata`` in an early-stop mode and returns its network (``attrs``:
    seconds, trees per target); the matrix and names are written once for all its runs."""
    with tempfile.TemporaryDirectory(prefix="bench-grn-rustscenic-") as scratch:
        folder = Path(scratch)
        sp.save_npz(folder / "matrix.npz", sp.csr_matrix(adata.X), compressed=False)
        (folder / "names.json").write_text(json.dumps({"genes": list(adata.var_names), "tfs": tfs}))
        (folder / "run.py").write_text(RUSTSCENIC_SCRIPT)
        environment = {**os.environ, "RAYON_NUM_THREADS": str(threads)}

        def run(mode: str) -> pd.DataFrame:
            subprocess.run([str(python), str(folder / "run.py"), str(folder), mode], check=True, env=environment)
            edges = pd.read_parquet(folder / f"edges_{mode}.parquet")
            edges = edges[edges["TF"] != edges["target"]]
            edges = edges.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
            edges.attrs = json.loads((folder / f"summary_{mode}.json").read_text())
            return edges

        yield run


def arboreto_run(adata: ad.AnnData, tfs: list[str], seed: int, client, saved: Path | None) -> pd.DataFrame:
    """arboreto's GRNBoost2 network (``attrs``: seconds, trees per target), from ``saved`` when it holds one."""
    if saved is not None and saved.exists():
        network = pd.read_parquet(saved)
        network.attrs["saved"] = True
        return network
    started = time.perf_counter()
    network = infer(adata, tfs, method="grnboost2", seed=seed, client=client)
    network.attrs["seconds"] = time.perf_counter() - started
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        network.to_parquet(saved)
    return network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="495 cells, ~600 genes")
    parser.add_argument("--beeline", help="a BEELINE set id, e.g. mDC-500-Specific")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arboreto-dir", type=Path, help="reuse (or save) arboreto's networks here")
    parser.add_argument("--rustscenic-python", help="interpreter with rustscenic installed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the engine and of rustscenic's default")
    args = parser.parse_args()

    if args.beeline:
        adata, tfs, truth = read_beeline(SHARED / "beeline", args.beeline)
        source, tag = f"BEELINE {args.beeline}", args.beeline
    else:
        adata, tfs, truth = kang(args.quick)
        source = "Kang donor 1016" + (" (CD14+ monocytes, B cells)" if args.quick else "")
        tag = "1016-quick" if args.quick else "1016"
    print(f"{source}: {adata.n_obs} cells × {adata.n_vars} genes, {len(tfs)} TFs")

    runs: dict[str, pd.DataFrame] = {}
    python = rustscenic_python(args.rustscenic_python)
    if python is None or not python.exists():
        print(f"skipped: rustscenic (no interpreter at {python or '$RUSTSCENIC_PYTHON'}; see --rustscenic-python)")
        python = None
    with dask_client(n_workers=args.workers) as client:
        for seed in (0, 1):
            saved = args.arboreto_dir / f"arboreto_{tag}_seed{seed}.parquet" if args.arboreto_dir else None
            runs[f"arboreto seed {seed}"] = arboreto_run(adata, tfs, seed, client, saved)
        warm_up()  # numba compiles (or loads its cache) the engine's kernels here before timing
        runner = rustscenic_runner(python, adata, tfs, args.workers) if python else nullcontext()
        with runner as rustscenic:
            # the engine and rustscenic's default mode take turns, so that a slow spell of the machine falls on both
            engine_seconds, rustscenic_seconds = [], []
            default = f"rustscenic {RUSTSCENIC_MODES[0]}"
            for _ in range(args.repeats):
                started = time.perf_counter()
                runs["engine"] = infer(adata, tfs, method="grnboost2-fast", seed=0, client=client)
                engine_seconds.append(time.perf_counter() - started)
                if rustscenic:
                    runs[default] = rustscenic(RUSTSCENIC_MODES[0])
                    rustscenic_seconds.append(runs[default].attrs["seconds"])
            runs["engine"].attrs["seconds"] = statistics.median(engine_seconds)
            print("engine runs (s): " + " ".join(f"{s:.2f}" for s in engine_seconds), flush=True)
            if rustscenic:
                runs[default].attrs["seconds"] = statistics.median(rustscenic_seconds)
                print("rustscenic runs (s): " + " ".join(f"{s:.2f}" for s in rustscenic_seconds), flush=True)
                for mode in RUSTSCENIC_MODES[1:]:
                    runs[f"rustscenic {mode}"] = rustscenic(mode)

    reference = runs["arboreto seed 0"]
    for name, network in runs.items():
        scores = score_network(network, truth, tfs=tfs, genes=list(adata.var_names))
        network.attrs["auprc"] = scores["auprc"]
        label = name + (f" ({network.attrs['version']})" if "version" in network.attrs else "")
        label += " (saved run)" if network.attrs.get("saved") else ""
        print(
            f"{label:34s} {network.attrs['seconds']:8.2f} s  {network.attrs['trees_per_target']:6.1f} trees/target  "
            f"{len(network):8d} edges  AUROC {scores['auroc']:.4f}  AUPRC {scores['auprc']:.4f} "
            f"(random {scores['random_precision']:.4f})  top-1000 overlap with arboreto seed 0 "
            f"{top_overlap(network, reference):.3f}"
        )

    engine_s = runs["engine"].attrs["seconds"]
    arboreto_s = (runs["arboreto seed 0"].attrs["seconds"] + runs["arboreto seed 1"].attrs["seconds"]) / 2
    overlap = top_overlap(runs["engine"], reference)
    floor = top_overlap(runs["arboreto seed 1"], reference)
    delta = runs["engine"].attrs["auprc"] - reference.attrs["auprc"]
    line = (
        f"speedup_vs_arboreto={arboreto_s / engine_s:.1f} top1000_overlap={overlap:.3f} "
        f"arboreto_seed_overlap={floor:.3f} auprc_delta={delta:+.4f}"
    )
    rustscenic = runs.get(default)
    if rustscenic is not None:
        line += f" speedup_vs_rustscenic={rustscenic.attrs['seconds'] / engine_s:.2f}"
    print(line)


if __name__ == "__main__":
    main()
