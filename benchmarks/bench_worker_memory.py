"""DeepDRIM training in a Dask worker started with Dask's malloc settings vs gridapp's (``dask.yaml``).

Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``: glibc hands freed memory back to the
kernel at once, so the tensors of every training batch are mapped and page-faulted in anew. gridapp's
local clusters start them with ``gridapp/core/dask.yaml`` instead (large blocks from the heap, up to
256 MiB of freed memory kept for reuse). For each setting, this script starts a one-worker local cluster
and times ``--batches`` training batches of 64 (forward + backward, 1 torch thread) of DeepDRIM on a
BEELINE set's provided training pairs in the worker: user and kernel CPU seconds and minor page faults of
the worker's thread. Last line: ``cpu_speedup=X fault_ratio=Y`` (Dask's settings over gridapp's).
"""

from __future__ import annotations

import argparse
import resource
from pathlib import Path

import dask
import distributed
import numpy as np
import torch
import yaml
from distributed import Client, LocalCluster

from gridapp.core import beeline
from gridapp.core.parallel import close_cluster
from gridapp.core.supervised.infer import build_model, pair_batches
from gridapp.core.supervised.training import TrainSettings, seed_everything
from gridapp.jobs.bench import split_parts
from gridapp.jobs.params import DEFAULT_ROOT


def train_batches(dataset: str, batches: int) -> dict[str, float]:
    """CPU seconds (user, kernel) and minor page faults of this thread over ``batches`` training batches."""
    seed_everything(TrainSettings(threads=1))
    adata, _, _ = beeline.read_beeline(DEFAULT_ROOT, dataset)
    pairs = split_parts(DEFAULT_ROOT, dataset, "test")["Train"]
    batch = pair_batches("deepdrim", adata, pairs)
    labels = torch.as_tensor(pairs["label"].to_numpy(dtype=np.float32))
    model, loss = build_model("deepdrim", adata), torch.nn.BCEWithLogitsLoss()
    order = np.random.default_rng(0).permutation(len(pairs))
    chunks = [order[start : start + 64] for start in range(0, 64 * (batches + 2), 64)]
    for number, rows in enumerate(chunks):
        if number == 2:  # after two warm-up batches
            before = resource.getrusage(resource.RUSAGE_THREAD)
        model.zero_grad()
        loss(model(*batch(rows)), labels[rows]).backward()
    after = resource.getrusage(resource.RUSAGE_THREAD)
    return {
        "user": after.ru_utime - before.ru_utime,
        "kernel": after.ru_stime - before.ru_stime,
        "faults": after.ru_minflt - before.ru_minflt,
    }


def in_worker(environ: dict, dataset: str, batches: int) -> dict[str, float]:
    """:func:`train_batches` in the worker of a one-worker local cluster started with ``environ``."""
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=40)
    try:
        with Client(cluster) as client:
            return client.submit(train_batches, dataset, batches, pure=False).result()
    finally:
        close_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mESC-500-Specific")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()

    own_defaults = yaml.safe_load(Path(distributed.__file__).with_name("distributed.yaml").read_text())
    settings = {
        "Dask": own_defaults["distributed"]["nanny"]["pre-spawn-environ"],
        "gridapp": dask.config.get("distributed.nanny.pre-spawn-environ"),
    }
    timed = {}
    for name, environ in settings.items():
        timed[name] = in_worker(environ, args.dataset, args.batches)
        cpu = timed[name]["user"] + timed[name]["kernel"]
        print(
            f"{name} settings: {cpu:.2f} CPU s ({timed[name]['kernel']:.2f} in the kernel), "
            f"{timed[name]['faults']:,} page faults over {args.batches} batches"
        )
    cpu_seconds = {name: values["user"] + values["kernel"] for name, values in timed.items()}
    print(
        f"cpu_speedup={cpu_seconds['Dask'] / cpu_seconds['gridapp']:.2f} "
        f"fault_ratio={timed['Dask']['faults'] / max(timed['gridapp']['faults'], 1):.1f}"
    )


if __name__ == "__main__":
    main()
