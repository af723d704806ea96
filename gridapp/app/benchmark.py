"""Callbacks of the Benchmark page: score methods on BEELINE sets in the background, show the table and curves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dash import Dash, Input, Output, State, dcc, no_update

from gridapp.app.config import AppConfig
from gridapp.app.runs import QUEUED, background_job, say_on_click
from gridapp.app.words import in_page_words
from gridapp.core.atomic import store_folder_once
from gridapp.core.beeline import dataset_ids, n_cells
from gridapp.core.errors import GridappError
from gridapp.core.methods import METHODS
from gridapp.figures.benchmark import curves_figure
from gridapp.jobs.bench import (
    SPLITS,
    BenchProgress,
    BenchResult,
    BenchSpec,
    load_result,
    run_benchmark,
    save_result,
)
from gridapp.jobs.cache import is_key
from gridapp.jobs.runner import status_line, ticking

#: the most seeds a Benchmark page request may ask for
MAX_BENCH_SEEDS = 10


def register(app: Dash, config: AppConfig) -> None:
    """Attach the Benchmark page's callbacks to ``app``."""

    @app.callback(
        Output("bench-key", "data"),
        Output("bench-status", "children"),
        Input("bench-run", "n_clicks"),
        State("bench-methods", "value"),
        State("bench-datasets", "value"),
        State("bench-split", "value"),
        State("bench-seeds", "value"),
        **background_job("bench-run", "bench-cancel", "bench-progress", "bench-status"),
    )
    def run_bench(set_progress, _, methods, datasets, split, seeds):
        try:
            key = benchmark_outputs(
                config,
                bench_spec(config, methods, datasets, split, seeds),
                lambda done, total, label: set_progress((str(done), str(total), f"{done}/{total}: {label} …")),
                tell=lambda note: set_progress(("0", "1", status_line(note))),
            )
        except GridappError as err:
            return no_update, f"Benchmark failed: {in_page_words(err)}"
        return key, "Done: scores below (networks are cached, so a rerun only re-scores)."

    say_on_click(app, "bench-run", "bench-status", "bench-progress", QUEUED)
    say_on_click(
        app,
        "bench-cancel",
        "bench-status",
        "bench-progress",
        "Cancelled: networks finished so far stay cached; earlier scores are unchanged.",
    )

    @app.callback(
        Output("bench-table", "data"),
        Output("bench-table", "columns"),
        Output("bench-curves-set", "options"),
        Output("bench-curves-set", "value"),
        Input("bench-key", "data"),
        Input("bench-metric", "value"),
        State("bench-curves-set", "value"),
    )
    def show_bench(key, metric, chosen):
        result = _bench_result(config.bench_dir, key)
        if result is None:
            return [], [], [], None
        table = result.summary(metric).round(3).reset_index()
        sets = list(dict.fromkeys(ds for _, ds, _ in result.curves))
        columns = [{"name": c, "id": c} for c in table.columns]
        return table.to_dict("records"), columns, sets, chosen if chosen in sets else sets[0]

    @app.callback(Output("bench-curves", "figure"), Input("bench-key", "data"), Input("bench-curves-set", "value"))
    def show_bench_curves(key, dataset_id):
        result = _bench_result(config.bench_dir, key)
        if result is None or not dataset_id:
            return {}
        chosen = {(m, seed): value for (m, ds, seed), value in result.curves.items() if ds == dataset_id}
        return curves_figure(chosen, dataset_id)

    @app.callback(
        Output("bench-download", "data"),
        Input("bench-export", "n_clicks"),
        State("bench-key", "data"),
        prevent_initial_call=True,
    )
    def export_bench(_, key):
        if _bench_result(config.bench_dir, key) is None:
            return no_update
        return dcc.send_file(str(config.bench_dir / key / "scores.csv"), filename="benchmark_scores.csv")


def bench_spec(config: AppConfig, methods, datasets, split, seeds) -> BenchSpec:
    """The Benchmark page's choices as a :class:`BenchSpec` (refused with a message when incomplete)."""
    if config.beeline_root is None:
        raise GridappError("This server has no BEELINE data.", "Ask whoever runs it to give it the BEELINE folder.")
    if not methods or not datasets:
        raise GridappError("Choose at least one method and one BEELINE set.")
    methods = _chosen(methods, list(METHODS), "method")
    datasets = _chosen(datasets, dataset_ids(config.beeline_root), "set")
    if split not in (None, *SPLITS) or not isinstance(seeds, int | str | None):
        raise GridappError("Choose a split and a number of seeds from the page.", "Reload the page.")
    try:
        seeds = int(seeds or 1)
    except ValueError as err:
        raise GridappError(f"Seeds must be a whole number, got {seeds!r}.") from err
    if not 1 <= seeds <= MAX_BENCH_SEEDS:
        raise GridappError(f"Seeds must be 1 to {MAX_BENCH_SEEDS} here, got {seeds}.")
    return BenchSpec(methods, datasets, split=split or "full", seeds=seeds, root=str(config.beeline_root))


def _chosen(values: object, allowed: list[str], what: str) -> tuple[str, ...]:
    """``values`` as a tuple when each is one of ``allowed`` (a request names only what the page offered)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or any(value not in allowed for value in values):
        raise GridappError(f"Choose each {what} from the list on the page.", "Reload the page if the list changed.")
    return tuple(values)


def benchmark_outputs(
    config: AppConfig, spec: BenchSpec, progress: BenchProgress, tell: Callable[[str], object] = lambda note: None
) -> str:
    """Run ``spec`` (unless its result is stored already), store the result, return its key.

    ``tell`` hears what the job is doing before its networks start (preparing, waiting for a slot, starting
    workers), at once and then every second; ``progress`` hears each network.
    """
    with ticking(tell) as ticker:
        ticker.say("preparing the benchmark")
        key = spec.key()
        folder = config.bench_dir / key
        if (folder / "scores.csv").is_file():
            return key
        for dataset_id in spec.dataset_ids():
            config.limits.check_cells(n_cells(spec.root, dataset_id))
    with config.door.enter(tell=tell) as job:
        result = run_benchmark(spec, client=job.client, cache_dir=config.bench_dir, progress=progress)
    store_folder_once(folder, lambda scratch: save_result(result, scratch))
    return key


def _bench_result(bench_dir: Path | None, key: str | None) -> BenchResult | None:
    """A stored benchmark result; ``None`` for a key that is not a stored result's (nothing outside bench_dir)."""
    if bench_dir is None or not is_key(key) or not (bench_dir / key / "scores.csv").is_file():
        return None
    return load_result(bench_dir / key)
