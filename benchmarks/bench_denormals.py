"""DeepDRIM training with denormal floats computed as zeros vs computed exactly (torch's default).

As a model trains, some of its weights, activations and gradients decay below float32's smallest normal
value (~1.2e-38); x86 CPUs compute such denormals in microcode, many times slower than normal floats.
This script trains gridapp's DeepDRIM for ``--epochs`` epochs on a BEELINE set's provided training pairs
with denormals kept (printing each epoch's CPU seconds), then times the same training batches on the
trained weights with denormals kept and flushed (what :func:`gridapp.core.supervised.training.seed_everything`
sets), 1 torch thread, CPU time of this thread. Last line: ``epoch_growth=G flush_speedup=S`` (last
epoch's CPU seconds over the first's, and kept over flushed on the trained weights).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from gridapp.core import beeline
from gridapp.core.supervised.infer import build_model, pair_batches
from gridapp.core.supervised.training import TrainSettings, fit, seed_everything
from gridapp.jobs.bench import split_parts
from gridapp.jobs.params import DEFAULT_ROOT


def cpu_seconds(model: torch.nn.Module, batch, labels: torch.Tensor, batches: list[np.ndarray]) -> float:
    """This thread's CPU time for forward + backward over ``batches`` (weights left unchanged)."""
    loss = torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.thread_time()
    for rows in batches:
        model.zero_grad()
        loss(model(*batch(rows)), labels[rows]).backward()
    return time.thread_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mDC-500-Specific")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()

    settings = TrainSettings(epochs=args.epochs, patience=args.epochs, threads=1)
    seed_everything(settings)
    torch.set_flush_denormal(False)
    adata, _, _ = beeline.read_beeline(DEFAULT_ROOT, args.dataset)
    parts = split_parts(DEFAULT_ROOT, args.dataset, "test")
    table = pd.concat([parts["Train"], parts["Validation"]], ignore_index=True)
    batch = pair_batches("deepdrim", adata, table)
    labels = table["label"].to_numpy(dtype=np.float32)
    rows = np.arange(len(table))
    model = build_model("deepdrim", adata)
    history = fit(model, batch, labels, rows[: len(parts["Train"])], rows[len(parts["Train"]) :], settings)
    for record in history:
        print(f"epoch {record['epoch']}: {record['cpu_seconds']:.1f} CPU s (denormals kept)")
    order = np.random.default_rng(0).permutation(len(parts["Train"]))
    batches = [order[s : s + 64] for s in range(0, 64 * args.batches, 64)]
    target = torch.as_tensor(labels)
    kept = cpu_seconds(model, batch, target, batches)
    torch.set_flush_denormal(True)
    flushed = cpu_seconds(model, batch, target, batches)
    print(f"{args.batches} batches of 64 on the trained weights: kept {kept:.2f} s, flushed {flushed:.2f} s")
    print(
        f"epoch_growth={history[-1]['cpu_seconds'] / history[0]['cpu_seconds']:.2f} flush_speedup={kept / flushed:.2f}"
    )


if __name__ == "__main__":
    main()
