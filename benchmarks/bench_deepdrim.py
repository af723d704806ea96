"""DeepDRIM's neighbour images read once per gene and batch vs pair by pair, on BEELINE mDC-TFs+500-Specific.

The paper's input layout gives every pair its 2n + 2 neighbour images (n = 10), so a gene's images are
read by the neighbour CNN once per pair it appears in. gridapp reads each distinct gene of a batch once
and shares its features (same values and gradients). Both layouts run the same model, same weights:
training steps on the provided split's training pairs (batches of 64, Adam) and scoring of every TF × gene
pair in tiles of 32 TFs × 32 targets (batches of 1,024), 2 torch threads. Last line:
``train_speedup=X score_speedup=Y max_abs_diff=Z``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gridapp.core import beeline
from gridapp.core.supervised.infer import all_pairs, build_model, pair_batches, tiled_order
from gridapp.core.supervised.training import TrainSettings, seed_everything
from gridapp.jobs.bench import DEFAULT_ROOT, split_parts


def per_pair(batch):
    """The same batch in the paper's layout: each pair's two genes as their own rows of the stacks."""

    def paper_batch(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        primary, stacks, tf_slot, target_slot = batch(rows)
        pairs = torch.arange(len(rows))
        return primary, torch.cat([stacks[tf_slot], stacks[target_slot]]), pairs, pairs + len(rows)

    return paper_batch


def train_seconds(model, batch, labels: torch.Tensor, batches: list[np.ndarray]) -> float:
    optimiser, loss = torch.optim.Adam(model.parameters(), lr=1e-3), torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.perf_counter()
    for rows in batches:
        optimiser.zero_grad()
        loss(model(*batch(rows)), labels[rows]).backward()
        optimiser.step()
    return time.perf_counter() - started


def score(model, batch, order: np.ndarray, size: int = 1024) -> tuple[np.ndarray, float]:
    """Logits of the rows in ``order`` (as :func:`gridapp.core.supervised.infer.predict` orders them)."""
    model.eval()
    started = time.perf_counter()
    with torch.no_grad():
        out = torch.cat([model(*batch(order[s : s + size])) for s in range(0, len(order), size)])
    return out.numpy(), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mDC-500-Specific")
    parser.add_argument("--train-batches", type=int, default=40)
    parser.add_argument("--score-pairs", type=int, default=50_000)
    args = parser.parse_args()

    seed_everything(TrainSettings(threads=2))
    adata, tfs, _ = beeline.read_beeline(DEFAULT_ROOT, args.dataset)
    train = split_parts(DEFAULT_ROOT, args.dataset, "test")["Train"]
    labels = torch.as_tensor(train["label"].to_numpy(dtype=np.float32))
    order = np.random.default_rng(0).permutation(len(train))
    batches = [order[s : s + 64] for s in range(0, 64 * args.train_batches, 64)]
    shared = pair_batches("deepdrim", adata, train)
    model = build_model("deepdrim", adata)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    seconds = {}
    for name, batch in (("per pair", per_pair(shared)), ("shared", shared)):
        model.load_state_dict(state)
        seconds[name] = train_seconds(model, batch, labels, batches)
        print(f"{name}: {len(batches)} training batches of 64 in {seconds[name]:.1f} s")
    candidates = all_pairs(tfs, adata.var_names).iloc[: args.score_pairs]
    scoring = pair_batches("deepdrim", adata, candidates)
    model.load_state_dict(state)
    order = tiled_order(adata, candidates)
    paper, paper_s = score(model, per_pair(scoring), order)
    ours, ours_s = score(model, scoring, order)
    print(f"scoring {len(candidates):,} TF × gene pairs: per pair {paper_s:.1f} s, shared {ours_s:.1f} s")
    train_speedup, score_speedup = seconds["per pair"] / seconds["shared"], paper_s / ours_s
    difference = np.abs(paper - ours).max()
    print(f"train_speedup={train_speedup:.2f} score_speedup={score_speedup:.1f} max_abs_diff={difference:.2e}")


if __name__ == "__main__":
    main()
