"""Benchmark runs: inference methods × BEELINE sets × seeds, scored by :mod:`gridapp.core.metrics`.

One call runs every method on every set (networks cached on disk by content, so a repeated
benchmark only re-scores), scores each network against the set's ground truth, over all candidate
pairs (``split="full"``), over the pairs of the set's provided test split (``split="test"``), or over
the test part of a TF-aware re-split of the provided pairs (``split="tf-aware"``: no TF in both training
and test, parts otherwise like the provided ones), and returns a tidy table and the ROC / PR curves.
Supervised methods train on the split's training pairs (early-stopped on its validation pairs) and score
its test pairs.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
from distributed import Client, Future

from gridapp import __version__
from gridapp.core import beeline, metrics
from gridapp.core.atomic import write_atomically
from gridapp.core.errors import GridappError
from gridapp.core.methods import get_method, infer
from gridapp.core.supervised.pairs import tf_aware_split
from gridapp.jobs.params import DEFAULT_ROOT, SPLITS, content_key, file_fingerprint

#: columns of the tidy score table
SCORE_COLUMNS = [
    "method",
    "dataset",
    "ground_truth",
    "gene_set",
    "split",
    "seed",
    "metric",
    "value",
    "seconds",
    "cpu_seconds",
]
#: metrics reported per network (see gridapp.core.metrics)
METRICS = ("auroc", "auprc", "auprc_ratio", "early_precision", "early_precision_ratio", "average_precision")

#: ``progress(done, total, label)``
BenchProgress = Callable[[int, int, str], None]
#: a network, its wall seconds and (supervised, one thread) CPU seconds
Computed = tuple[pd.DataFrame, float, float]
#: torch threads of a supervised training run as a Dask task
TASK_THREADS = 1


@dataclass(frozen=True)
class BenchSpec:
    """What to benchmark.

    Attributes
    ----------
    methods
        Registered method ids.
    datasets
        BEELINE set ids (``all`` expands to every set with expression, and with a split unless ``split`` is
        ``full``).
    split
        ``full`` (every candidate pair), ``test`` (the set's provided test split) or ``tf-aware`` (the
        test part of a re-split of the provided pairs with no TF in two parts, each part holding the
        provided part's share of the positives; see :func:`~gridapp.core.supervised.pairs.tf_aware_split`).
    seeds
        Seeds 0 .. seeds−1 for seeded methods; unseeded methods run once.
    root
        The BEELINE folder.
    """

    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    split: str = "full"
    seeds: int = 1
    root: str = str(DEFAULT_ROOT)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise GridappError(f"Unknown split {self.split!r}.", f"Choose one of: {', '.join(SPLITS)}.")
        if self.seeds < 1:
            raise GridappError("--seeds must be at least 1.")
        if not Path(self.root, "networks").is_dir():
            raise GridappError(
                f"No BEELINE data under {self.root}.",
                "Point GRIDAPP_BEELINE (or --beeline-root) at shared/data/beeline.",
            )
        for method_id in self.methods:
            if get_method(method_id).supervised and self.split == "full":
                raise GridappError(
                    f"{method_id} is trained on known pairs; it can only be scored on held-out ones.",
                    "Use --split test or --split tf-aware.",
                )

    def dataset_ids(self) -> list[str]:
        """The set ids, ``all`` expanded (to the sets with a train/test split, unless ``split`` is ``full``)."""
        ids = beeline.resolve_ids(self.root, ",".join(self.datasets))
        if self.split == "full" or "all" not in self.datasets:
            return ids
        return [i for i in ids if i in self.datasets or beeline.has_split(self.root, i)]

    def key(self) -> str:
        """Content address of this benchmark's result (sets, methods and their parameters, code version)."""
        payload = {
            "datasets": self.dataset_ids(),
            "methods": {m: get_method(m).parameters for m in self.methods},
            "split": self.split,
            "seeds": self.seeds,
            "version": __version__,
        }
        return content_key(payload)


@dataclass
class BenchResult:
    """Tidy scores and, per (method, dataset id, seed), the ROC and PR curves."""

    scores: pd.DataFrame
    curves: dict[tuple[str, str, int], tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)

    def summary(self, metric: str = "auprc_ratio") -> pd.DataFrame:
        """Method × dataset table of one metric, averaged over seeds."""
        chosen = self.scores[self.scores["metric"] == metric]
        ids = chosen["dataset"] + "-" + chosen["gene_set"].str.removeprefix("TFs+") + "-" + chosen["ground_truth"]
        return chosen.assign(id=ids).pivot_table(index="method", columns="id", values="value", aggfunc="mean")


def save_result(result: BenchResult, folder: str | Path) -> Path:
    """Write ``scores.csv`` and ``curves.parquet`` (long: method, dataset_id, seed, curve, x, y) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(folder / "scores.csv", index=False)
    frames = [
        pd.DataFrame({"method": method, "dataset_id": dataset_id, "seed": seed, "curve": name, "x": x, "y": y})
        for (method, dataset_id, seed), (roc, pr) in result.curves.items()
        for name, x, y in (("roc", roc["fpr"], roc["tpr"]), ("pr", pr["recall"], pr["precision"]))
    ]
    pd.concat(frames, ignore_index=True).to_parquet(folder / "curves.parquet")
    return folder


def load_result(folder: str | Path) -> BenchResult:
    """A :class:`BenchResult` written by :func:`save_result`."""
    folder = Path(folder)
    curves: dict[tuple[str, str, int], tuple[pd.DataFrame, pd.DataFrame]] = {}
    for (method, dataset_id, seed), group in pd.read_parquet(folder / "curves.parquet").groupby(
        ["method", "dataset_id", "seed"], sort=False
    ):
        roc, pr = (group[group["curve"] == name] for name in ("roc", "pr"))
        curves[(method, dataset_id, int(seed))] = (
            pd.DataFrame({"fpr": roc["x"].to_numpy(), "tpr": roc["y"].to_numpy()}),
            pd.DataFrame({"recall": pr["x"].to_numpy(), "precision": pr["y"].to_numpy()}),
        )
    return BenchResult(pd.read_csv(folder / "scores.csv"), curves)


def split_parts(root: str | Path, dataset_id: str, split: str) -> dict[str, pd.DataFrame] | None:
    """The labelled ``Train``, ``Validation`` and ``Test`` pairs of a split (``None`` for ``full``)."""
    if split == "full":
        return None
    provided = {part: beeline.read_split(root, dataset_id, part) for part in beeline.PARTS}
    if split == "test":
        return provided
    return tf_aware_split(provided, seed=0)


def _network_key(
    spec: BenchSpec,
    dataset_id: str,
    tfs: Sequence[str],
    parts: dict[str, pd.DataFrame] | None,
    method: str,
    seed: int,
    threads: int | None,
) -> str:
    """Content key of a network: the input (expression, TF set) and the method, not the set's name, so the
    Non-Specific, STRING and Lofgof sets of a cell type (same genes, same TFs) share one unsupervised network;
    a supervised model's key holds its split's pairs too."""
    payload = {
        "expression": file_fingerprint(beeline.expression_path(spec.root, dataset_id)),
        "tfs": sorted(tfs),
        "method": method,
        "parameters": get_method(method).parameters,
        "seed": seed,
        "version": __version__,
    }
    if get_method(method).supervised:  # trained on the set's own split pairs, with a fixed thread count
        payload.update(dataset=dataset_id, split=spec.split, pairs=_pairs_fingerprint(parts), threads=threads)
    return content_key(payload)


def _pairs_fingerprint(parts: dict[str, pd.DataFrame]) -> str:
    """Digest of a split's labelled pairs, part by part."""
    digest = hashlib.sha256()
    for part in beeline.PARTS:
        digest.update(part.encode())
        digest.update(pd.util.hash_pandas_object(parts[part], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _read_stored(path: Path | None) -> Computed | None:
    if path is None or not path.is_file():
        return None
    stored = pd.read_parquet(path)
    return stored, float(stored.attrs.get("seconds", 0.0)), float(stored.attrs.get("cpu_seconds", math.nan))


def _store(path: Path | None, computed: Computed) -> Computed:
    if path is not None:
        network, seconds, cpu_seconds = computed
        network.attrs.update(seconds=seconds, cpu_seconds=cpu_seconds)
        write_atomically(path, network.to_parquet)
    return computed


def _compute(
    data: tuple,
    method: str,
    seed: int,
    client: Client | None,
    parts: dict[str, pd.DataFrame] | None,
    threads: int | None = None,
    store_path: Path | None = None,
) -> Computed:
    """The method's network on a set (``data`` = what read_beeline returned), its wall seconds and, for a
    supervised model trained in one thread, that thread's CPU seconds (NaN otherwise).

    A supervised model trains on ``parts``' Train / Validation pairs and scores its Test pairs; it keeps a
    checkpoint beside ``store_path`` (where its network will be stored), so an interrupted benchmark resumes
    the training; its seconds then add those of the epochs trained by earlier runs.
    """
    adata, tfs, _ = data
    genes = sorted(adata.var_names)  # one gene order per input, whichever set's Target.csv listed it
    regulators = set(tfs)
    adata, tfs = adata[:, genes], [gene for gene in genes if gene in regulators]
    options: dict[str, object] = {}
    if get_method(method).supervised:
        options = {"training": {part: parts[part] for part in ("Train", "Validation")}, "candidates": parts["Test"]}
        if threads is not None:
            options["threads"] = threads
        if store_path is not None:
            options["checkpoint"] = store_path.with_suffix(".checkpoint")
    started, cpu_started = time.perf_counter(), time.thread_time()
    network = infer(adata, tfs, method=method, seed=seed, client=client, **options)
    earlier = [record for record in network.attrs.get("history", []) if record.get("restored")]
    seconds = time.perf_counter() - started + sum(record["seconds"] for record in earlier)
    cpu_seconds = time.thread_time() - cpu_started + sum(record["cpu_seconds"] for record in earlier)
    return network, seconds, cpu_seconds if threads == 1 else math.nan


def _start_trainings(
    inputs: dict[str, tuple],
    runs: list[tuple[str, int]],
    client: Client | None,
    paths: dict[tuple[str, str, int], Path | None],
) -> dict[tuple[str, str, int], Future]:
    """Supervised trainings not in the store, one Dask task each with one torch thread, so that a worker
    per core trains models side by side (a cluster trains every set at once); each is stored when it ends."""
    if client is None:
        return {}
    started = {}
    for dataset_id, (data, parts) in inputs.items():
        for method, seed in runs:
            path = paths[(method, dataset_id, seed)]
            if get_method(method).supervised and (path is None or not path.is_file()):
                future = client.submit(_compute, data, method, seed, None, parts, TASK_THREADS, path, pure=False)
                future.add_done_callback(partial(_store_finished, path))
                started[(method, dataset_id, seed)] = future
    return started


def _store_finished(path: Path | None, future: Future) -> None:
    """Store a training as soon as it ends, so that an interrupted benchmark keeps every model it finished."""
    if future.status == "finished":
        _store(path, future.result())


def _trained(future: Future, path: Path | None) -> Computed:
    """A training's result, stored here too unless its done-callback already did: that callback runs in
    the client's thread and may not have written the run's last model before the benchmark exits."""
    computed = future.result()
    if path is not None and not path.is_file():
        _store(path, computed)
    return computed


def _task_threads(method: str, client: Client | None) -> int | None:
    """Torch threads of a supervised model trained as a Dask task; ``None`` for a method run in this process."""
    return TASK_THREADS if client is not None and get_method(method).supervised else None


def _path(store: Path | None, key: str) -> Path | None:
    return None if store is None else store / f"{key}.parquet"


def run_benchmark(
    spec: BenchSpec,
    *,
    client: Client | None = None,
    cache_dir: str | Path | None = None,
    progress: BenchProgress | None = None,
) -> BenchResult:
    """Run, score and tabulate every (method, set, seed) of ``spec``.

    Parameters
    ----------
    spec
        Methods, sets, split and seeds.
    client
        Dask client for the methods' parallel parts; with one, supervised models train as Dask tasks
        (one torch thread each, side by side), without, one after another in two threads.
    cache_dir
        Where networks are kept between runs (by expression content, method, parameters, seed and
        code version); ``None`` recomputes.
    progress
        Called before each network with (done, total, "method on set, seed").

    Returns
    -------
    :class:`BenchResult`; ``seconds`` is the inference time (as first computed, for cached networks),
    ``cpu_seconds`` the CPU time of a supervised model trained in one thread.
    """
    store = Path(cache_dir) / "bench" if cache_dir is not None else None
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    runs = [(method, seed) for method in spec.methods for seed in range(spec.seeds if get_method(method).seeded else 1)]
    inputs = {
        dataset_id: (beeline.read_beeline(spec.root, dataset_id), split_parts(spec.root, dataset_id, spec.split))
        for dataset_id in spec.dataset_ids()
    }
    paths = {
        (method, dataset_id, seed): _path(
            store, _network_key(spec, dataset_id, data[1], parts, method, seed, _task_threads(method, client))
        )
        for dataset_id, (data, parts) in inputs.items()
        for method, seed in runs
    }
    trainings = _start_trainings(inputs, runs, client, paths)
    total = len(runs) * len(inputs)
    rows, curves = [], {}
    for position, (dataset_id, (data, parts)) in enumerate(inputs.items()):
        adata, tfs, truth = data
        pairs = None if parts is None else parts["Test"]
        cell, size, ground_truth = beeline.parse_id(dataset_id)
        for done, (method, seed) in enumerate(runs, start=position * len(runs)):
            if progress is not None:
                progress(done, total, f"{method} on {dataset_id}, seed {seed}")
            path = paths[(method, dataset_id, seed)]
            future = trainings.get((method, dataset_id, seed))
            computed = _trained(future, path) if future else _read_stored(path)
            if computed is None:
                computed = _store(path, _compute(data, method, seed, client, parts, store_path=path))
            network, seconds, cpu_seconds = computed
            table = metrics.candidate_scores(network, truth, tfs=tfs, genes=list(adata.var_names), pairs=pairs)
            scores = metrics.score_candidates(table)
            curves[(method, dataset_id, seed)] = metrics.curves(table)
            rows.extend(
                (
                    method,
                    cell,
                    ground_truth,
                    f"TFs+{size}",
                    spec.split,
                    seed,
                    metric,
                    scores[metric],
                    seconds,
                    cpu_seconds,
                )
                for metric in METRICS
            )
    if progress is not None:
        progress(total, total, "done")
    return BenchResult(pd.DataFrame(rows, columns=SCORE_COLUMNS), curves)


def write_benchmark(result: BenchResult, out: str | Path, figure: Callable[..., object]) -> list[Path]:
    """:func:`save_result`, ``methods.csv`` and, per set, ``curves_<set>.html`` (ROC and PR of every method).

    ``figure(curves, title)`` draws one set's curves (``gridapp.figures.benchmark.curves_figure``).
    """
    out = save_result(result, out)
    methods_table(list(dict.fromkeys(result.scores["method"]))).to_csv(out / "methods.csv", index=False)
    written = [out / "scores.csv", out / "curves.parquet", out / "methods.csv"]
    for dataset_id in dict.fromkeys(key[1] for key in result.curves):
        chosen = {(method, seed): value for (method, ds, seed), value in result.curves.items() if ds == dataset_id}
        path = out / f"curves_{dataset_id}.html"
        figure(chosen, dataset_id).write_html(path, include_plotlyjs="directory")
        written.append(path)
    return written


def methods_table(method_ids: Sequence[str]) -> pd.DataFrame:
    """Name, citation, supervision and parameters of the given methods (for reports)."""
    rows = [
        {
            "method": m.id,
            "name": m.name,
            "citation": m.citation,
            "supervised": m.supervised,
            "parameters": json.dumps(m.parameters, default=str),
        }
        for m in map(get_method, method_ids)
    ]
    return pd.DataFrame(rows)
