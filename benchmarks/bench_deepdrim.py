"""gridapp's DeepDRIM vs the paper's layout and layer order, on BEELINE mDC-TFs+500-Specific.

Two changes, each timed on its own, same weights throughout:

- input layout: the paper gives every pair its 2n + 2 neighbour images (n = 10), so a gene's images are
  read by the neighbour CNN once per pair it appears in; gridapp reads each distinct gene of a batch
  once and shares its features (same values and gradients);
- CNN: the usual conv → ReLU → max-pool blocks on NCHW tensors vs gridapp's pool-first blocks on
  channels-last tensors (the same function; float rounding differs).

Training steps on the provided split's training pairs (batches of 64, Adam) and scoring of every TF × gene
pair in tiles of 32 TFs × 32 targets (batches of 1,024), 1 torch thread (as the benchmark trains). Last
line: ``layout_speedup=X cnn_speedup=Y train_speedup=Z score_speedup=W max_abs_diff=D`` (train and
score: the paper's layout and CNN vs gridapp's).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

from gridapp.core import beeline
from gridapp.core.supervised.infer import all_pairs, build_model, pair_batches, tiled_order
from gridapp.core.supervised.training import TrainSettings, seed_everything
from gridapp.jobs.bench import split_parts
from gridapp.jobs.params import DEFAULT_ROOT


def per_pair(batch):
    """The same batch in the paper's layout: each pair's two genes as their own rows of the stacks."""

    def paper_batch(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        primary, stacks, tf_slot, target_slot = batch(rows)
        pairs = torch.arange(len(rows))
        return primary, torch.cat([stacks[tf_slot], stacks[target_slot]]), pairs, pairs + len(rows)

    return paper_batch


def plain_cnn(features: int = 64) -> nn.Sequential:
    """:func:`gridapp.core.supervised.models.image_cnn`'s function in the usual layer order, NCHW."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, features),
        nn.ReLU(),
    )


def with_plain_cnns(model: nn.Module) -> nn.Module:
    """A copy of a DeepDRIM model whose two CNNs are :func:`plain_cnn` (same weights: same layer indices)."""
    plain = copy.deepcopy(model)
    plain.primary, plain.neighbour = plain_cnn(), plain_cnn()
    plain.load_state_dict(model.state_dict())
    return plain


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

    seed_everything(TrainSettings(threads=1))
    adata, tfs, _ = beeline.read_beeline(DEFAULT_ROOT, args.dataset)
    train = split_parts(DEFAULT_ROOT, args.dataset, "test")["Train"]
    labels = torch.as_tensor(train["label"].to_numpy(dtype=np.float32))
    order = np.random.default_rng(0).permutation(len(train))
    batches = [order[s : s + 64] for s in range(0, 64 * args.train_batches, 64)]
    shared = pair_batches("deepdrim", adata, train)
    model = build_model("deepdrim", adata)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    plain = with_plain_cnns(model)
    seconds = {}
    for name, net, batch in (
        ("paper layout, plain CNN", plain, per_pair(shared)),
        ("shared layout, plain CNN", plain, shared),
        ("shared layout, gridapp CNN", model, shared),
    ):
        net.load_state_dict(state)
        seconds[name] = train_seconds(net, batch, labels, batches)
        print(f"{name}: {len(batches)} training batches of 64 in {seconds[name]:.1f} s")
    candidates = all_pairs(tfs, adata.var_names).iloc[: args.score_pairs]
    scoring = pair_batches("deepdrim", adata, candidates)
    model.load_state_dict(state)
    plain.load_state_dict(state)
    order = tiled_order(adata, candidates)
    paper, paper_s = score(plain, per_pair(scoring), order)
    ours, ours_s = score(model, scoring, order)
    print(f"scoring {len(candidates):,} TF × gene pairs: paper {paper_s:.1f} s, gridapp {ours_s:.1f} s")
    layout = seconds["paper layout, plain CNN"] / seconds["shared layout, plain CNN"]
    cnn = seconds["shared layout, plain CNN"] / seconds["shared layout, gridapp CNN"]
    difference = np.abs(paper - ours).max()
    print(
        f"layout_speedup={layout:.2f} cnn_speedup={cnn:.2f} train_speedup={layout * cnn:.2f} "
        f"score_speedup={paper_s / ours_s:.1f} max_abs_diff={difference:.2e}"
    )


if __name__ == "__main__":
    main()
