"""Scaling of the GRN step: ``grnboost2-fast`` on local and external Dask clusters, extrapolated from a sample.

Data: ``bench_pipeline.synthetic_counts`` (by default 100,000 cells × 3,000 genes, 300 TFs driving the other
genes through a planted sparse network), prepared as the pipeline prepares its input
(``gridapp.jobs.pipeline.prepare``: counts normalised to 10,000 per cell and log1p-transformed; highly
variable genes ∪ TFs keeps all 3,000 genes).

The whole step at this size takes hours on 2 cores, so every configuration times the same sample:
``--targets`` non-TF genes drawn with ``--seed``, and ``gridapp.core.methods.infer`` runs on the matrix
restricted to those genes and the 300 TFs. The engine makes every gene of its matrix a target, so the
timed sample **includes the 300 TF-as-target rows** (the whole step has the same 300 rows). The sampled
genes come first, so that they fill whole engine tasks (``boosting.CHUNK`` = 32 targets each), scheduled
before the TF rows; with fewer sampled-gene tasks than workers a configuration would time the sample's
task granularity instead of the cluster, hence the default of 32 × the largest worker count.

Extrapolation: a TF row stops after about 30 trees (nothing planted predicts a TF) while a planted
target grows hundreds, so the sample's targets/s (300 of its rows are TF rows) would underestimate
the whole step several-fold. A tree costs the same for every target (the same cells and TFs), so the
whole step = sample seconds × whole-step trees / sample trees, with whole-step trees = the TF rows'
trees + (non-TF genes / sampled genes) × the sampled genes' trees; a target's trees are the sum of its
importances (the engine normalises them to the number of trees).

Configurations, in one run: a local cluster (``dask_client(n_workers=N)``, single-threaded worker
processes) for each N of ``--workers`` up to the number of cores, and an external cluster
(``dask scheduler`` + N ``dask worker --nthreads 1 --nworkers 1`` processes started here, with
gridapp's ``dask.yaml`` as their Dask configuration, reached through ``dask_client(address)``) for
every N; N above the core count oversubscribes the cores. This process and every worker compile or
load the engine's kernels (``boosting.warm_up``) before the timing. The engine may keep a local
cluster's work in threads of this process: "ran in" says whether this process or the workers spent most
of the CPU time. Efficiency = t1 / (N · tN) against the same kind's N = 1; "busy" = CPU seconds of this
process and the workers / (N · wall seconds): below 1 when workers wait for tasks or other processes
take the cores (this machine's load average is printed before, during and after).

Memory (``VmHWM``, the peak resident set): this process, which holds the whole matrix and a CSC copy of
it as the whole step does, and the largest worker of each configuration; when the workers did the work,
after the whole CSC matrix was scattered to each of them as the engine scatters its matrix (the whole
step's largest data there). "main + N × worker" is compared with 24 GB.
Last lines: the whole step on 16 workers at the measured 2-worker efficiency (an assumption), then
``cells=N genes=G targets=K efficiency_local_2=X efficiency_cluster_2=Y efficiency_cluster_4=Z
whole_grn_h_2workers=H`` (H: local cluster of 2 workers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from bench_pipeline import synthetic_counts
from distributed import Client

from gridapp.core.methods import infer
from gridapp.core.methods.boosting import CHUNK, warm_up
from gridapp.core.parallel import DASK_CONFIG, dask_client
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import prepare

N_TFS = 300
#: the machine the benchmark answers for
MEMORY_BUDGET_GB = 24
#: seconds an external cluster's scheduler file and workers get to appear, and each process to end
START_TIMEOUT = 120
STOP_TIMEOUT = 30
GB = 2**30


@dataclass(frozen=True)
class Timing:
    """One configuration's run of the sample."""

    kind: str
    workers: int
    seconds: float
    #: CPU seconds of this process and the workers during the run
    cpu_seconds: float
    #: the workers did most of that CPU work (else this process's threads did)
    on_workers: bool
    worker_peak_bytes: int
    load: float


def sample_targets(genes: pd.Index, tfs: list[str], n_targets: int, seed: int) -> list[str]:
    """``n_targets`` non-TF genes drawn with ``seed``, in their order in ``genes``."""
    candidates = genes[~genes.isin(tfs)]
    chosen = np.random.default_rng(seed).choice(len(candidates), min(n_targets, len(candidates)), replace=False)
    return list(candidates[np.sort(chosen)])


def sparse_bytes(matrix: sp.spmatrix) -> int:
    """Bytes of a compressed sparse matrix's arrays."""
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def trees_per_target(adjacencies: pd.DataFrame) -> pd.Series:
    """Trees grown for each target: the sum of its importances."""
    return adjacencies.groupby("target")["importance"].sum().round()


def difference(adjacencies: pd.DataFrame, reference: pd.DataFrame) -> str:
    """ "same" when both tables are equal, else how they differ."""
    if adjacencies.equals(reference):
        return "same"
    merged = adjacencies.merge(reference, on=["TF", "target"], how="outer", suffixes=("", "_reference"))
    delta = (merged["importance"] - merged["importance_reference"]).abs()
    return f"DIFFERENT: {delta.isna().sum()} links in one only, max |Δ importance| {delta.max():.3g}"


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started its program (``VmHWM``; ``ru_maxrss`` would also
    count, in a worker spawned by a large process, that process's peak before the exec)."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def worker_usage() -> tuple[int, float]:
    """This process's peak RSS in bytes and its CPU seconds so far (run in each worker)."""
    return peak_rss_bytes(), time.process_time()


def time_sample(
    client: Client, kind: str, n_workers: int, sample: ad.AnnData, tfs: list[str], seed: int, whole: sp.csc_matrix
) -> tuple[Timing, pd.DataFrame]:
    """Warm the workers, time the GRN step on ``sample``; when the workers did the work, scatter ``whole`` to
    every one of them as the engine scatters its matrix, for the whole step's worker memory."""
    client.wait_for_workers(n_workers, timeout=START_TIMEOUT)
    client.run(warm_up)
    before, main_before = client.run(worker_usage), time.process_time()
    started = time.perf_counter()
    adjacencies = infer(sample, tfs, method="grnboost2-fast", seed=seed, client=client)
    seconds = time.perf_counter() - started
    main_cpu = time.process_time() - main_before
    after = client.run(worker_usage)
    worker_cpu = sum(after[worker][1] - before[worker][1] for worker in after)
    on_workers = worker_cpu > main_cpu  # the engine may keep a local cluster's work in this process's threads
    if on_workers:
        held = client.scatter(whole, broadcast=True, hash=False)
        after = client.run(worker_usage)
        client.cancel(held)
    peak = max(usage[0] for usage in after.values())
    load = os.getloadavg()[0]
    return Timing(kind, n_workers, seconds, main_cpu + worker_cpu, on_workers, peak, load), adjacencies


@contextmanager
def open_client(kind: str, n_workers: int, folder: Path) -> Iterator[Client]:
    """A client of a local cluster (``kind`` "local") or of an external one started here ("cluster")."""
    if kind == "local":
        with dask_client(n_workers=n_workers) as client:
            yield client
        return
    with external_cluster(n_workers, folder / f"cluster-{n_workers}") as address, dask_client(address) as client:
        yield client


@contextmanager
def external_cluster(n_workers: int, folder: Path) -> Iterator[str]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes; yield the scheduler's address.

    Each process leads its own process group (a terminal's Ctrl-C reaches this script only), and all are
    stopped on the way out, whatever ends the block (:func:`stop`). Should this script be killed before,
    the workers end 60 s after losing the scheduler and the scheduler after 10 idle minutes.
    """
    folder.mkdir(parents=True)
    env = {**os.environ, "DASK_CONFIG": str(DASK_CONFIG)}  # gridapp's worker settings, as the Docker image has them
    processes: list[subprocess.Popen] = []

    def spawn(name: str, *arguments: str) -> subprocess.Popen:
        with open(folder / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dask", *arguments], stdout=log, stderr=log, env=env, start_new_session=True
            )
        processes.append(process)
        return process

    try:
        scheduler_file = folder / "scheduler.json"
        scheduler = spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(scheduler_file), "--idle-timeout", "600",
        )  # fmt: skip
        address = scheduler_address(scheduler_file, scheduler, folder / "scheduler.log")
        for i in range(n_workers):
            spawn(
                f"worker-{i}", "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                "--death-timeout", "60", "--local-directory", str(folder / f"worker-{i}"),
            )  # fmt: skip
        yield address
    finally:
        stop(processes)


def scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen, log: Path) -> str:
    """The address the scheduler writes to ``scheduler_file`` once it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and scheduler.poll() is None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet, or half written
            time.sleep(0.2)
    raise RuntimeError(f"The Dask scheduler did not start; its log ends:\n{log.read_text()[-2000:]}")


def stop(processes: list[subprocess.Popen]) -> None:
    """End the scheduler ``processes[0]`` and its workers, ignoring further Ctrl-C meanwhile: SIGTERM to the
    workers, then to the scheduler; SIGKILL to the process group (a nanny and its worker process) of any
    process that lingers :data:`STOP_TIMEOUT` seconds."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for group in (processes[1:], processes[:1]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    print(f"dask process {process.pid} did not end within {STOP_TIMEOUT} s: killed", flush=True)
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def efficiencies(timings: list[Timing], cost: Callable[[Timing], float]) -> dict[tuple[str, int], float]:
    """cost(1 worker) / cost(N workers) of the same kind, for every timing whose kind has a one-worker timing.

    With ``cost`` = N · wall seconds this is the parallel efficiency t1 / (N · tN); with CPU seconds, the share of
    the work that parallelism did not add (other processes on the machine barely change it).
    """
    single = {t.kind: cost(t) for t in timings if t.workers == 1}
    return {(t.kind, t.workers): single[t.kind] / cost(t) for t in timings if t.kind in single}


def exit_on_sigterm(signum: int, frame: object) -> None:
    """Leave through ``finally`` blocks (clusters stopped) when terminated."""
    sys.exit(128 + signum)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, help="synthetic cells (default 100,000; 5,000 with --quick)")
    parser.add_argument("--genes", type=int, default=3000, help="synthetic genes, 300 of them TFs")
    parser.add_argument(
        "--targets", type=int, help=f"non-TF targets timed (default {CHUNK} × the most workers; --quick {CHUNK})"
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts (local clusters: up to the core count)")
    parser.add_argument("--seed", type=int, default=0, help="draws the targets; the engine's seed")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 cells, one task of targets")
    args = parser.parse_args()
    args.workers = sorted({int(n) for n in args.workers.split(",")})
    args.cells = args.cells or (5000 if args.quick else 100_000)
    args.targets = args.targets or CHUNK * (1 if args.quick else max(args.workers))
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    warm_up()  # the engine may boost in threads of this process
    timings: list[Timing] = []
    differences: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        path, tf_file, _ = synthetic_counts(folder, args.cells, args.genes, N_TFS)
        Path("/proc/self/clear_refs").write_text("5")  # peak memory from here: what the pipeline's process does
        adata, coverage, _ = prepare(RunParams(input=str(path), tfs=str(tf_file)), notes=[])
        tfs = list(coverage.present)
        targets = sample_targets(adata.var_names, tfs, args.targets, args.seed)
        sample = adata[:, targets + tfs].copy()
        whole = adata.X.tocsc()  # the engine's copy of the whole matrix, held here and scattered to the workers
        print(
            f"data: {adata.n_obs:,} cells × {adata.n_vars:,} genes ({len(tfs)} TFs), whole matrix "
            f"{sparse_bytes(whole) / GB:.2f} GB as CSC; made and prepared in {time.perf_counter() - started:.0f} s; "
            f"sample: {len(targets)} non-TF targets (seed {args.seed}) + {len(tfs)} TF rows = {sample.n_vars} targets",
            flush=True,
        )
        reference = None
        configurations = [("local", n) for n in args.workers if n <= cores] + [("cluster", n) for n in args.workers]
        for kind, n_workers in configurations:
            with open_client(kind, n_workers, folder) as client:
                timing, adjacencies = time_sample(client, kind, n_workers, sample, tfs, args.seed, whole)
            timings.append(timing)
            reference = adjacencies if reference is None else reference
            differences.append(difference(adjacencies, reference))
            print(
                f"{kind} {n_workers}: {timing.seconds:.1f} s, load {timing.load:.2f}; adjacencies vs the first "
                f"configuration's: {differences[-1]}",
                flush=True,
            )
    main_peak = peak_rss_bytes()
    report(
        adata, tfs, targets, reference, timings, main_peak, all(d == "same" for d in differences), load_before, cores
    )


def report(
    adata: ad.AnnData,
    tfs: list[str],
    targets: list[str],
    adjacencies: pd.DataFrame,
    timings: list[Timing],
    main_peak: int,
    identical: bool,
    load_before: tuple[float, float, float],
    cores: int,
) -> None:
    """Print the table, the memory verdict, the 16-worker extrapolation and the result line."""
    trees = trees_per_target(adjacencies)
    sample_trees = trees.sum()
    target_trees = trees.reindex(targets, fill_value=0).sum()
    other_genes = adata.n_vars - len(tfs)
    whole_trees = sample_trees - target_trees + other_genes / len(targets) * target_trees
    scale = whole_trees / sample_trees
    n_rows = len(targets) + len(tfs)
    print(
        f"trees: {target_trees / len(targets):.0f} per sampled target, {(sample_trees - target_trees) / len(tfs):.1f} "
        f"per TF row; sample {sample_trees:,.0f}, whole step ≈ {whole_trees:,.0f} ({scale:.1f}× the sample)"
    )
    print(f"adjacencies identical in every configuration: {'yes' if identical else 'NO'}")
    efficiency = efficiencies(timings, lambda t: t.workers * t.seconds)
    cpu_efficiency = efficiencies(timings, lambda t: t.cpu_seconds)
    print(
        f"{'kind':8} {'N':>2} {'ran in':>7} {'seconds':>7} {'targets/s':>9} {'trees/s':>7} {'efficiency':>10} "
        f"{'CPU s':>6} {'CPU eff.':>8} {'busy':>5} {'whole step h':>12} {'worker peak GB':>14} "
        f"{'main + N × worker GB':>20} {'load':>5}"
    )
    for t in timings:
        config, busy = (t.kind, t.workers), t.cpu_seconds / (t.workers * t.seconds)
        note = f"  ({t.workers} workers on {cores} cores: oversubscribed)" if t.workers > cores else ""
        print(
            f"{t.kind:8} {t.workers:>2} {'workers' if t.on_workers else 'main':>7} {t.seconds:>7.1f} "
            f"{n_rows / t.seconds:>9.2f} {sample_trees / t.seconds:>7.0f} {efficiency.get(config, math.nan):>10.2f} "
            f"{t.cpu_seconds:>6.0f} {cpu_efficiency.get(config, math.nan):>8.2f} {busy:>5.2f} "
            f"{t.seconds * scale / 3600:>12.2f} {t.worker_peak_bytes / GB:>14.2f} "
            f"{(main_peak + t.workers * t.worker_peak_bytes) / GB:>20.2f} {t.load:>5.2f}{note}"
        )
    by_config = {(t.kind, t.workers): t for t in timings}
    fitting = [t for t in timings if t.workers <= cores] or timings
    worst = max(fitting, key=lambda t: t.workers * t.worker_peak_bytes)
    total = (main_peak + worst.workers * worst.worker_peak_bytes) / GB
    print(
        f"memory: this process's peak {main_peak / GB:.2f} GB (the matrix, its counts and a CSC copy); the largest "
        f"worker {worst.worker_peak_bytes / GB:.2f} GB ({worst.kind}, {worst.workers} workers"
        f"{', the whole matrix scattered to it' if worst.on_workers else ''}); main + {worst.workers} × worker = "
        f"{total:.2f} GB: {'fits' if total < MEMORY_BUDGET_GB else 'does NOT fit'} in {MEMORY_BUDGET_GB} GB"
    )
    loads = " ".join(f"{load:.2f}" for load in load_before), " ".join(f"{load:.2f}" for load in os.getloadavg())
    print("load average (1, 5, 15 min) before: {}; after: {}".format(*loads))
    if ("cluster", 2) in efficiency:
        e2, cpu_e2 = efficiency[("cluster", 2)], cpu_efficiency[("cluster", 2)]
        one_worker = by_config[("cluster", 1)]
        one_worker_h = one_worker.seconds * scale / 3600
        tasks = math.ceil(other_genes / CHUNK)
        cap = tasks / (16 * math.ceil(tasks / 16))
        print(
            f"16-worker cluster (ASSUMED: efficiency beyond 2 workers stays at the measured 2-worker {e2:.2f}; "
            f"extrapolated, not measured): whole GRN step ≈ {one_worker_h / (16 * e2):.2f} h "
            f"(1 worker's {one_worker_h:.2f} h / (16 × {e2:.2f})); with a core of its own per worker, at the "
            f"2-worker CPU efficiency {cpu_e2:.2f}: {one_worker.cpu_seconds * scale / 3600 / (16 * cpu_e2):.2f} h; "
            f"{tasks} tasks of {CHUNK} non-TF targets over 16 workers alone cap efficiency at {cap:.2f}"
        )
    local_2 = by_config.get(("local", 2))
    print(
        f"cells={adata.n_obs} genes={adata.n_vars} targets={len(targets)} "
        f"efficiency_local_2={efficiency.get(('local', 2), math.nan):.2f} "
        f"efficiency_cluster_2={efficiency.get(('cluster', 2), math.nan):.2f} "
        f"efficiency_cluster_4={efficiency.get(('cluster', 4), math.nan):.2f} "
        f"whole_grn_h_2workers={local_2.seconds * scale / 3600 if local_2 else math.nan:.2f}"
    )


if __name__ == "__main__":
    main()
