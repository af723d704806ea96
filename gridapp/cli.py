"""``python -m gridapp run|compare|bench|pyscenic ...``: the pipeline on a subset, a comparison of groups and
donors, methods scored on BEELINE, headless; or pySCENIC's own command line in this environment."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gridapp.core.errors import Cancelled, GridappError
from gridapp.core.methods import METHOD_IDS
from gridapp.jobs.params import DEFAULT_ROOT, DEFAULT_TOP_EDGES, SPLITS, TF_LISTS, RunParams
from gridapp.jobs.settings import BY_NAME, GROUPS, PRUNE_FROM, comma_separated, settings_of

if TYPE_CHECKING:
    from distributed import Client

    from gridapp.jobs.compare import CompareResult
    from gridapp.jobs.pipeline import Progress

# The commands import the computing layers (pandas, Dask, pySCENIC, numba: seconds) when they run, so that
# ``--help`` and a usage error answer at once.

#: the setting groups of ``run`` (``compare`` adds the comparison's)
RUN_GROUPS = tuple(group for group in GROUPS if group != "comparison")
BAR_FORMAT = "{desc} {bar:30} {n_fmt}/{total_fmt} steps [{elapsed}]"
#: what to give when ``compare`` lacks a choice (by :class:`~gridapp.jobs.compare.Missing` name), in the CLI's
#: words (the Compare page has its own)
COMPARE_HINTS = {
    "GROUPS": "Give --groups A,B (e.g. --groups ctrl,stim).",
    "GROUP_KEY": "Add --group-key COLUMN.",
    "DONOR_KEY": "Add --donor-key COLUMN.",
    "ANYTHING": "Give --group-key COL --groups A,B, or --reproducibility with --donor-key.",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``gridapp`` argument parser (sub-commands ``run``, ``compare`` and ``bench``)."""
    parser = argparse.ArgumentParser(prog="python -m gridapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="infer a GRN, regulons and AUCell activity for a cell subset")
    _add_run_options(run_parser)
    compare_parser = commands.add_parser(
        "compare", help="differential regulon activity, network rewiring and donor reproducibility"
    )
    _add_run_options(compare_parser)
    what = compare_parser.add_argument_group("comparison")
    for setting in settings_of("comparison"):
        setting.add_to(what)
    what.add_argument("--reproducibility", action="store_true", help="also run every donor of --donor-key on its own")
    what.add_argument("--threshold", type=float, help="importance at which rewiring cuts each group's network")
    what.add_argument(
        "--top-edges",
        type=int,
        default=DEFAULT_TOP_EDGES,
        help=f"without --threshold: compare each group's strongest edges (default {DEFAULT_TOP_EDGES})",
    )
    commands.add_parser(
        "pyscenic",
        help="pySCENIC's own command line (grn, ctx, aucell, ...), runnable with this environment's numpy and pandas",
        add_help=False,
    ).add_argument("arguments", nargs=argparse.REMAINDER)
    bench_parser = commands.add_parser("bench", help="score inference methods on BEELINE benchmark sets")
    bench_parser.add_argument(
        "--methods", type=comma_separated, required=True, help=f"comma-separated: {', '.join(METHOD_IDS)}"
    )
    bench_parser.add_argument(
        "--datasets", type=comma_separated, default=("all",), help="BEELINE set ids (mDC-500-Specific) or all"
    )
    bench_parser.add_argument(
        "--split",
        choices=SPLITS,
        default="full",
        help="score all candidate pairs, the provided test split, or a TF-aware re-split (no TF in train and test)",
    )
    bench_parser.add_argument("--seeds", type=int, default=1, help="seeds per seeded method")
    bench_parser.add_argument("--beeline-root", default=str(DEFAULT_ROOT), help="BEELINE folder (shared/data/beeline)")
    bench_parser.add_argument("--out", required=True, help="output folder")
    bench_parser.add_argument("--overwrite", action="store_true", help="replace the content of --out")
    bench_parser.add_argument("--cache-dir", help="where networks are kept between runs")
    bench_parser.add_argument("--dask-scheduler", help="address of an existing Dask scheduler (default: local cluster)")
    bench_parser.add_argument("--workers", type=int, help="local Dask workers (default: CPU cores)")
    bench_parser.add_argument("--debug", action="store_true", help="show tracebacks and library logs")
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a pipeline run: one per setting of :data:`~gridapp.jobs.settings.SETTINGS` (by group), the
    embedded data, where the work runs, and the output."""
    groups = {group: parser.add_argument_group(group) for group in RUN_GROUPS}
    groups["data"].add_argument("--demo", action="store_true", help="use the embedded Kang 2018 donor (data/demo)")
    for setting in settings_of(*RUN_GROUPS):
        setting.add_to(groups[setting.group])
    where = parser.add_argument_group("where it runs")
    where.add_argument(
        "--dask-scheduler",
        help="address of an existing Dask scheduler (default: threads of this process, and a local cluster for a "
        "step that needs one: arboreto's methods, motif pruning)",
    )
    where.add_argument("--workers", type=int, help="a local Dask cluster of this many workers for the whole run")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace the content of --out")
    parser.add_argument("--cache-dir", help="where converted motif databases (and compare's runs) are kept")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library logs")


def params_from_args(args: argparse.Namespace) -> RunParams:
    """Build :class:`RunParams` from parsed ``run`` arguments: the settings given (``--demo`` fills unset data
    options; without ``--prune``, the pruning file given decides it)."""
    given = {
        setting.name: tuple(value) if isinstance(value, list) else value
        for setting in settings_of(*RUN_GROUPS)
        if (value := getattr(args, setting.name)) is not None
    }
    if "tfs" in given:
        given["tfs"] = str(TF_LISTS.get(given["tfs"], given["tfs"]))
    implied = [name for name in PRUNE_FROM if name in given]
    if "prune" not in given and len(implied) > 1:
        raise GridappError(
            f"Both {' and '.join(BY_NAME[name].flag for name in implied)} are given: which pruning?",
            "Give --prune cistarget or --prune prior.",
        )
    if "prune" not in given and implied:
        given["prune"] = PRUNE_FROM[implied[0]]
    missing = [BY_NAME[name].flag for name in ("input", "tfs") if name not in given]
    if missing and not args.demo:
        raise GridappError(f"Missing {' and '.join(missing)}.", "Give them, or use --demo for the embedded data.")
    params = RunParams.demo(**given) if args.demo else RunParams(**given)
    params.check_files()
    if params.prior:  # a bad prior fails now, not at the prune step after minutes of inference
        from gridapp.core.priors import read_prior

        read_prior(params.prior, confidence=params.prior_confidence)
    return params


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    """A tqdm bar over the pipeline steps, named after the step in progress; only on a terminal (``disable=None``):
    in a log or a pipe its redraws would come before the messages."""
    from tqdm import tqdm

    from gridapp.jobs.pipeline import STEPS

    with tqdm(total=len(STEPS), unit="step", file=sys.stderr, bar_format=BAR_FORMAT, disable=None) as bar:

        def advance(index: int, total: int, name: str) -> None:
            bar.set_description_str(f"{name:<9}")
            bar.update(index - bar.n)

        yield advance
        bar.set_description_str("done     ")
        bar.update(len(STEPS) - bar.n)


@contextmanager
def _run_bar() -> Iterator[Progress]:
    """A tqdm bar over whole runs (compare, bench), named after the run in progress; only on a terminal."""
    from tqdm import tqdm

    bar_format = BAR_FORMAT.replace("steps", "runs")
    with tqdm(total=1, unit="run", file=sys.stderr, bar_format=bar_format, disable=None) as bar:

        def advance(done: int, total: int, label: str) -> None:
            bar.total = total
            bar.set_description_str(label)
            bar.update(done - bar.n)

        yield advance


def _say(message: str) -> None:
    """Print ``message`` on stderr; bytes of file names that are not UTF-8 are shown as ``\\xNN``."""
    print(message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), file=sys.stderr)


class _Terminated(BaseException):  # not an Exception: no `except Exception` on the way may stop it
    """Raised in the main thread on SIGTERM, so that the scratch folder and the local Dask cluster are cleaned up."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 130 cancelled, 143 terminated, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pyscenic"]:  # before parsing: argparse would take pySCENIC's own options (--help) as ours
        return pyscenic_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.debug:
        warnings.simplefilter("ignore")
        import distributed  # noqa: F401  (sets its loggers' levels when imported: quieten them after that)

        for name in ("pyscenic", "distributed", "arboreto"):
            logging.getLogger(name).setLevel(logging.ERROR)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        report = {"run": _run, "compare": _compare, "bench": _bench}[args.command](args)
    except GridappError as err:
        _say(f"error: {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except Exception as err:
        if args.debug:
            raise
        _say(f"internal error: {type(err).__name__}: {err}\n  hint: rerun with --debug and report it.")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    report()
    return 0


def pyscenic_main(arguments: Sequence[str]) -> int:
    """Run pySCENIC's command line (``pyscenic ARGUMENTS``) with gridapp's compatibility patches applied.

    The ``pyscenic`` script of this environment stops at ``np.object`` (removed from the pinned numpy);
    ``python -m gridapp pyscenic ...`` is the same program after :mod:`gridapp.core.compat` has run.

    Returns
    -------
    pySCENIC's exit status (0 when it returns normally).
    """
    from pyscenic.cli.pyscenic import main as pyscenic  # gridapp.core applies its patches before this import

    try:
        pyscenic(list(arguments))
    except SystemExit as done:  # argparse's --help and usage errors
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    return 0


def _cache_dir(args: argparse.Namespace) -> Path:
    cache_dir = Path(args.cache_dir or Path(tempfile.gettempdir()) / "gridapp-cache")
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir


@contextmanager
def _run_client(args: argparse.Namespace) -> Iterator[Client | None]:
    """The Dask client of a ``run`` or ``compare``: the scheduler or local cluster the options ask for, else
    none (the GRN engine then boosts in threads of this process, and a step that needs Dask starts a local
    cluster for itself: no cluster start-up for a run that needs none)."""
    if args.dask_scheduler is None and args.workers is None:
        yield None
        return
    from gridapp.core.parallel import dask_client

    with dask_client(args.dask_scheduler, n_workers=args.workers) as client:
        yield client


def _run(args: argparse.Namespace) -> Callable[[], None]:
    """``run``: the pipeline on one subset; returns what prints its summary."""
    params = params_from_args(args)  # bad settings and missing files are told before the pipeline's imports
    from gridapp.jobs.pipeline import output_folder, run, write_outputs

    started = time.perf_counter()
    with (
        output_folder(args.out, overwrite=args.overwrite) as scratch,
        _run_client(args) as client,
        _progress_bar() as progress,
    ):
        result = run(params, client=client, cache_dir=_cache_dir(args), progress=progress, model_dir=scratch / "model")
        write_outputs(result, scratch, cell_type_key=params.cell_type_key)
    seconds = time.perf_counter() - started
    return lambda: _print_summary(result.summary, Path(args.out), seconds)


def _compare(args: argparse.Namespace) -> Callable[[], None]:
    """``compare``: the runs a comparison needs (cached), then its tables; returns what prints them."""
    base = params_from_args(args)  # bad settings and missing files are told before the pipeline's imports
    from gridapp.jobs.cache import ResultCache
    from gridapp.jobs.compare import CompareSpec, IncompleteComparisonError, Missing, run_compare, write_compare
    from gridapp.jobs.pipeline import output_folder

    try:
        spec = CompareSpec(
            base=base,
            group_key=args.group_key,
            groups=args.groups or (),
            reproducibility=args.reproducibility,
            threshold=args.threshold,
            top_edges=args.top_edges,
        )
    except IncompleteComparisonError as err:
        raise err.worded({Missing[name]: hint for name, hint in COMPARE_HINTS.items()}) from err
    cache = ResultCache(_cache_dir(args) / "results")
    with (
        output_folder(args.out, overwrite=args.overwrite) as scratch,
        _run_client(args) as client,
        _run_bar() as advance,
    ):
        result = run_compare(spec, cache, client=client, progress=advance)
        written = write_compare(result, spec, cache, scratch)
    return lambda: _print_comparison(result, Path(args.out), len(written))


def _print_comparison(result: CompareResult, out: Path, n_files: int) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        if result.differential is not None:
            top = result.differential.sort_values("pvalue").groupby("cell_type").head(3)
            print(top[["cell_type", "regulon", "delta", "log2fc", "pvalue", "qvalue", "test"]].to_string(index=False))
        if result.rewiring is not None:
            counts = result.rewiring.edges["status"].value_counts()
            print("rewiring: " + ", ".join(f"{counts.get(s, 0):,} {s}" for s in ("kept", "gained", "lost")) + " edges")
        if result.reproducibility is not None:
            print(result.reproducibility.head(15).to_string(index=False))
    for note in result.notes:
        print(f"  {note}")
    print(f"outputs in {out} ({n_files} files)")


def _bench(args: argparse.Namespace) -> Callable[[], None]:
    """``bench``: methods × BEELINE sets; returns what prints the summary tables."""
    import pandas as pd

    from gridapp.core.parallel import dask_client
    from gridapp.figures.benchmark import curves_figure
    from gridapp.jobs.bench import METRICS, BenchSpec, run_benchmark, write_benchmark
    from gridapp.jobs.pipeline import output_folder

    spec = BenchSpec(
        methods=args.methods, datasets=args.datasets, split=args.split, seeds=args.seeds, root=args.beeline_root
    )
    spec.dataset_ids()  # unknown ids fail here, before any work
    out = Path(args.out)
    with (
        output_folder(out, overwrite=args.overwrite) as scratch,
        dask_client(args.dask_scheduler, n_workers=args.workers) as client,
        _run_bar() as advance,
    ):
        result = run_benchmark(spec, client=client, cache_dir=_cache_dir(args), progress=advance)
        written = write_benchmark(result, scratch, curves_figure)

    def report() -> None:
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.precision", 3):
            for metric in ("auroc", "auprc_ratio", "early_precision_ratio"):
                print(f"\n{metric} (mean over seeds)\n{result.summary(metric)}")
        seconds = result.scores.groupby(["method"])["seconds"].sum() / len(METRICS)
        print("\ninference seconds per method:", ", ".join(f"{m} {s:.1f}" for m, s in seconds.items()))
        print(f"outputs in {out} ({len(written)} files)")

    return report


def _print_summary(summary: dict, out: Path, seconds: float) -> None:
    from gridapp.jobs.pipeline import STEPS

    counts = summary["counts"]
    print(
        f"{counts['cells']} cells × {counts['genes']} genes, {counts['tfs_in_data']} TFs → "
        f"{counts['adjacencies']} adjacencies, {counts['modules']} modules, {counts['regulons']} regulons "
        f"(AUCell threshold {summary['aucell']['auc_threshold']:.3f}) in {seconds:.0f} s"
    )
    print("seconds per step: " + ", ".join(f"{name} {summary['seconds'][name]}" for name in (*STEPS, "write")))
    for cell_type, top in summary["top_regulons"].get("rss", {}).items():
        print(f"  {cell_type}: {', '.join(top)}")
    print(f"outputs in {out}")
