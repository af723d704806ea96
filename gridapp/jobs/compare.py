"""Compare runs: the cached pipeline runs a comparison needs, its tables, and its output folder.

A comparison of groups ``a`` and ``b`` (e.g. ``ctrl`` and ``stim`` of ``group_id``) uses three runs, each
stored in the result cache: one on the cells of both groups (its AUC matrix is tested group against
group), and one per group (their networks are compared). Reproducibility runs every donor on its own.
A second comparison of the same subset reads all of them back from the cache.

A comparison missing a choice is refused with :class:`IncompleteComparisonError`, whose message names no
option of any front end: the CLI and the Compare page each add their own hint on what to choose.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import pandas as pd
from distributed import Client

from gridapp.core.compare import Rewiring, differential_activity, reproducibility, rewiring
from gridapp.core.errors import GridappError
from gridapp.core.io import read_dataset
from gridapp.core.subset import MIN_CELLS, obs_column, read_tfs
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import DEFAULT_TOP_EDGES, RunParams, content_key
from gridapp.jobs.pipeline import NO_LIMITS, Cancelled, JobLimits, Progress, cells_of, run

#: strongest edges of each run that the rewiring compares when no importance threshold is given


class Missing(Enum):
    """What an incomplete comparison lacks."""

    GROUPS = "two values of the group column"
    GROUP_KEY = "the group column"
    DONOR_KEY = "the donor column (for reproducibility)"
    ANYTHING = "groups to compare or reproducibility across donors"


class IncompleteComparisonError(GridappError):
    """A comparison refused for a missing choice, told in no front end's words (no hint).

    Parameters
    ----------
    message
        What is wrong.
    missing
        What to choose; a front end words it as its hint with :meth:`worded`.
    """

    def __init__(self, message: str, missing: Missing) -> None:
        super().__init__(message)
        self.missing = missing

    def worded(self, hints: Mapping[Missing, str]) -> GridappError:
        """This error with a front end's hint: ``hints`` says, in that front end's words, what to choose."""
        return GridappError(self.message, hints[self.missing])


@dataclass(frozen=True)
class CompareSpec:
    """What to compare.

    Attributes
    ----------
    base
        The run's parameters (input, TFs, cell subset, inference, pruning); ``group_key`` and ``groups`` are
        set from the fields below.
    group_key, groups
        ``obs`` column and its two values to compare (``None`` / empty: reproducibility only).
    reproducibility
        Also run each donor of ``base.donor_key`` separately and report how often each regulon recurs.
    threshold, top_edges
        Where the rewiring cuts each group's network: an importance, else the ``top_edges`` strongest.
    """

    base: RunParams
    group_key: str | None = None
    groups: tuple[str, ...] = ()
    reproducibility: bool = False
    threshold: float | None = None
    top_edges: int = DEFAULT_TOP_EDGES

    def __post_init__(self) -> None:
        if self.group_key and (len(self.groups) != 2 or self.groups[0] == self.groups[1]):
            raise IncompleteComparisonError(
                f"Compare exactly two different groups of obs[{self.group_key!r}], got {list(self.groups)}.",
                Missing.GROUPS,
            )
        if self.groups and not self.group_key:
            raise IncompleteComparisonError(
                f"Groups {list(self.groups)} were given without the obs column holding them.", Missing.GROUP_KEY
            )
        if self.reproducibility and not self.base.donor_key:
            raise IncompleteComparisonError("Reproducibility across donors needs the donor column.", Missing.DONOR_KEY)
        if not (self.group_key or self.reproducibility):
            raise IncompleteComparisonError("Nothing to compare.", Missing.ANYTHING)

    def union(self) -> RunParams:
        """The run on the cells of both groups (or of the whole subset)."""
        return self.base.with_changes(group_key=self.group_key, groups=tuple(self.groups))

    def group_runs(self) -> list[RunParams]:
        """One run per group (none without groups)."""
        return [self.base.with_changes(group_key=self.group_key, groups=(g,)) for g in self.groups]


@dataclass
class CompareResult:
    """The tables of a comparison, what it compared and the cache keys of the runs behind them."""

    differential: pd.DataFrame | None
    rewiring: Rewiring | None
    reproducibility: pd.DataFrame | None
    group_key: str | None = None
    groups: tuple[str, ...] = ()
    keys: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_compare(
    spec: CompareSpec,
    cache: ResultCache,
    *,
    client: Client | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    limits: JobLimits = NO_LIMITS,
) -> CompareResult:
    """Run (or read from ``cache``) every run ``spec`` needs and compute its tables.

    ``progress(done, total, label)`` is called before each run; ``cancelled`` is polled between runs and
    steps (:class:`~gridapp.jobs.pipeline.Cancelled` is raised; finished runs stay cached); each run is held
    to ``limits``.
    """
    donors = _donors(spec) if spec.reproducibility else []
    plan = [("union", spec.union())]
    plan += [(f"group {g}", params) for g, params in zip(spec.groups, spec.group_runs())]
    plan += [(f"donor {d}", spec.union().with_changes(donors=(d,))) for d in donors]
    keys: dict[str, str] = {}
    for done, (label, params) in enumerate(plan):
        if cancelled():
            raise Cancelled(f"cancelled before the run of {label}")
        if progress:
            progress(done, len(plan), label)
        keys[label] = cache.get_or_compute(
            params,
            lambda chosen: run(
                chosen, client=client, cache_dir=Path(cache.root) / ".motif-dbs", cancelled=cancelled, limits=limits
            ),
        )
    union = cache.load(keys["union"])
    result = CompareResult(
        differential=None,
        rewiring=None,
        reproducibility=None,
        group_key=spec.group_key,
        groups=tuple(spec.groups),
        keys=keys,
    )
    if spec.group_key:
        result.differential = differential_activity(
            union.adata,
            group_key=spec.group_key,
            groups=tuple(spec.groups),
            cell_type_key=spec.base.cell_type_key,
            donor_key=spec.base.donor_key,
        )
        a, b = (cache.load(keys[f"group {g}"]) for g in spec.groups)
        cut = f"importance ≥ {spec.threshold:g}" if spec.threshold is not None else f"top {spec.top_edges:,} edges"
        result.notes.append(f"Rewiring compares each group's run at {cut}.")
        tests = result.differential.groupby("test")["cell_type"].unique()
        result.notes += [f"{test}: {', '.join(types)}." for test, types in tests.items()]
        result.rewiring = rewiring(
            a.adjacencies,
            b.adjacencies,
            threshold=spec.threshold,
            top_edges=None if spec.threshold is not None else spec.top_edges,
            regulons_a=a.regulon_targets,
            regulons_b=b.regulon_targets,
        )
    if donors:
        result.reproducibility = reproducibility({d: cache.load(keys[f"donor {d}"]).regulon_targets for d in donors})
    if progress:
        progress(len(plan), len(plan), "done")
    return result


def _donors(spec: CompareSpec) -> list[str]:
    """The donors of the comparison's cells that have enough cells for a run of their own."""
    params = spec.union()
    adata, _ = read_dataset(params.input, gene_symbols=params.gene_symbols, tfs=read_tfs(params.tfs))
    cells = cells_of(adata, params)
    counts = obs_column(cells, params.donor_key).value_counts()
    kept = sorted(counts.index[counts >= MIN_CELLS])
    if len(kept) < 2:
        raise GridappError(
            f"Reproducibility needs 2 or more donors with {MIN_CELLS}+ cells in obs[{params.donor_key!r}]; "
            f"found {len(kept)}.",
            "Choose a donor column with several donors, or more cell types.",
        )
    return kept


def compare_key(spec: CompareSpec, cache: ResultCache) -> str:
    """Content address of a comparison: its union run's cache key and the comparison's own settings."""
    payload = {
        "union": cache.key(spec.union()),
        "groups": [spec.group_key, list(spec.groups)],
        "reproducibility": spec.reproducibility,
        "cut": [spec.threshold, spec.top_edges],
    }
    return content_key(payload)


def save_compare(result: CompareResult, spec: CompareSpec, out: Path) -> list[Path]:
    """Write the comparison's tables and ``compare.json`` (spec, run keys, notes; written last) into ``out``.

    ``differential.csv``, ``rewiring_edges.csv``, ``rewiring_tfs.csv``, ``rewiring_regulons.csv`` and
    ``reproducibility.csv``, those that were computed.
    """
    for name, table in _tables(result).items():
        if table is not None:
            table.to_csv(out / f"{name}.csv", index=False)
    summary = {"spec": {**asdict(spec), "base": spec.base.to_dict()}, "keys": result.keys, "notes": result.notes}
    (out / "compare.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return sorted(out.iterdir())


def write_compare(result: CompareResult, spec: CompareSpec, cache: ResultCache, out: Path) -> list[Path]:
    """:func:`save_compare`, plus the union run's outputs (as ``python -m gridapp run`` writes them) in ``run/``."""
    shutil.copytree(cache.path(result.keys["union"]), out / "run", ignore=shutil.ignore_patterns("*.parquet"))
    return save_compare(result, spec, out)


def load_compare(folder: Path) -> CompareResult:
    """A comparison written by :func:`save_compare`."""
    summary = json.loads((folder / "compare.json").read_text(encoding="utf-8"))

    def table(name: str) -> pd.DataFrame | None:
        return pd.read_csv(folder / f"{name}.csv") if (folder / f"{name}.csv").is_file() else None

    rewired = [table(f"rewiring_{name}") for name in ("edges", "tfs", "regulons")]
    return CompareResult(
        differential=table("differential"),
        rewiring=Rewiring(*rewired) if rewired[0] is not None else None,
        reproducibility=table("reproducibility"),
        group_key=summary["spec"]["group_key"],
        groups=tuple(summary["spec"]["groups"]),
        keys=summary["keys"],
        notes=summary["notes"],
    )


#: the tables a comparison stores (as ``<name>.csv``), the names an export may ask for
TABLES = ("differential", "rewiring_edges", "rewiring_tfs", "rewiring_regulons", "reproducibility")


def _tables(result: CompareResult) -> dict[str, pd.DataFrame | None]:
    tables = {"differential": result.differential, "reproducibility": result.reproducibility}
    if result.rewiring is not None:
        tables |= {f"rewiring_{name}": getattr(result.rewiring, name) for name in ("edges", "tfs", "regulons")}
    return tables
