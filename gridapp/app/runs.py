"""Runs and their jobs: Launch, Cancel and the job watcher, opening a cached run or a pySCENIC output; the
background-job plumbing the Compare and Benchmark pages share."""

from __future__ import annotations

import pandas as pd
from dash import Dash, Input, Output, State, no_update

from gridapp.app.config import AppConfig, gate_of
from gridapp.app.form import CELLTYPE_HINTS, FORM_FIELDS, params_from_form, suggest
from gridapp.app.words import computed_on, in_page_words, run_options, table_payload
from gridapp.core.errors import GridappError
from gridapp.jobs.datasets import category_columns, obs_table
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import STEPS
from gridapp.jobs.runner import launch

QUEUED = "Queued: starting the job …"
#: how often the page asks a background job for its progress and result (Dash's default: 1,000 ms)
JOB_POLL_MS = 400

JOB_LOST = (
    "Failed: the job stopped before storing its result (its process or worker was lost, e.g. out of memory). "
    "Nothing was stored and earlier results are unchanged; launch again to retry."
)


def job_verdict(state: str, started: bool, ended: bool, launch_disabled: bool | None) -> str:
    """What the job watcher makes of a launched run.

    Parameters
    ----------
    state
        The result's :meth:`~gridapp.jobs.cache.ResultCache.state`: ``done``, ``running`` or ``idle``.
    started
        Whether the watcher has seen it running before.
    ended
        Whether the launch has ended on the page: its job answered (a result, a failure, the cache) or the
        user cancelled it (the ``job-end`` store holds this launch).
    launch_disabled
        Whether the Launch button is still disabled (Dash re-enables it when it sees the job end).

    Returns
    -------
    ``running``, ``waiting`` (queued, not started), ``lost`` (it stopped without storing a result and
    without saying why: its process or worker died) or ``over`` (stored, answered or cancelled: nothing
    left to watch).
    """
    if state == "running":
        return "running"
    if state == "done" or ended:
        return "over"
    return "lost" if started or not launch_disabled else "waiting"


def background_job(start: str, cancel: str, bar: str | None = None, status: str | None = None) -> dict:
    """Callback arguments of a job run in the background from button ``start``, cancelled by ``cancel``.

    With a progress ``bar`` and a ``status`` line, the callback's ``set_progress`` takes ``(done, total,
    text)``.
    """
    arguments = {
        "background": True,
        "interval": JOB_POLL_MS,
        "running": [(Output(start, "disabled"), True, False), (Output(cancel, "disabled"), False, True)],
        "cancel": [Input(cancel, "n_clicks")],
        "prevent_initial_call": True,
    }
    if bar and status:
        arguments["progress"] = [Output(bar, "value"), Output(bar, "max"), Output(status, "children")]
    return arguments


def say_on_click(app: Dash, button: str, status: str, progress: str, note: str) -> None:
    """When ``button`` is clicked (a job's start or cancel), say ``note`` in ``status`` at once and empty
    ``progress``: the page answers before the job's process has started."""

    @app.callback(
        Output(status, "children", allow_duplicate=True),
        Output(progress, "value", allow_duplicate=True),
        Input(button, "n_clicks"),
        prevent_initial_call=True,
    )
    def cancelled(_):
        return note, "0"


def register(app: Dash, config: AppConfig) -> None:
    """Attach the callbacks of a run: launch, cancel and watch its job; open a cached run or a pySCENIC output."""
    _register_launch(app, config)
    _register_watch(app, config)
    _register_opening(app, config)


def _register_launch(app: Dash, config: AppConfig) -> None:
    """Launch (a background job) and Cancel."""
    cache = config.cache

    def form_params(values: tuple) -> RunParams:
        """The run the Launch button would start, from the form's values in FORM_FIELDS order."""
        return params_from_form(config, dict(zip(FORM_FIELDS, values)))

    @app.callback(
        Output("result-key", "data"),
        Output("status", "children"),
        Output("cached-runs", "options"),
        Output("job-end", "data"),
        Input("launch", "n_clicks"),
        *[State(field, "value") for field in FORM_FIELDS],
        progress=[Output("progress", "value"), Output("status", "children"), Output("job-key", "data")],
        **background_job("launch", "cancel"),
    )
    def launch_run(set_progress, n_clicks, *values):
        ended = {"launch": n_clicks}
        try:
            params = form_params(values)
            job = {"launch": n_clicks, "key": cache.key(params)}  # hashed here, in the job, never in a request
            if job["key"] in cache:
                return job["key"], f"Opened from cache (computed {computed_on(cache, job['key'])}).", no_update, ended
            key = launch(
                params,
                cache,
                config.door,
                progress=lambda i, n, name: set_progress((str(i), f"step {i + 1}/{n}: {name} …", job)),
            )
        except GridappError as err:
            return no_update, f"Run failed: {in_page_words(err)}", no_update, ended
        return key, f"Done: {len(STEPS)}/{len(STEPS)} steps.", run_options(config), ended

    say_on_click(app, "cancel", "status", "progress", "Cancelled: nothing was stored; earlier results are unchanged.")


def _register_watch(app: Dash, config: AppConfig) -> None:
    """The job watcher: a launch is queued, running, over (answered or cancelled) or lost (its process died)."""
    cache = config.cache

    @app.callback(
        Output("job-end", "data", allow_duplicate=True),
        Input("cancel", "n_clicks"),
        State("launched", "data"),
        prevent_initial_call=True,
    )
    def end_on_cancel(_, launched):
        return {"launch": launched.get("launch")} if isinstance(launched, dict) else no_update

    @app.callback(
        Output("launched", "data"),
        Output("job-watch", "disabled"),
        Output("status", "children", allow_duplicate=True),
        Output("message", "children", allow_duplicate=True),
        Input("launch", "n_clicks"),
        prevent_initial_call=True,
    )
    def watch_launch(n_clicks):
        # the job reports its key (job-key); an earlier message (a refused upload, ...) is about something else
        return {"launch": n_clicks, "started": False}, False, QUEUED, ""

    @app.callback(
        Output("launched", "data", allow_duplicate=True),
        Output("job-watch", "disabled", allow_duplicate=True),
        Output("status", "children", allow_duplicate=True),
        Output("launch", "disabled", allow_duplicate=True),
        Output("cancel", "disabled", allow_duplicate=True),
        Input("job-watch", "n_intervals"),
        State("launched", "data"),
        State("job-key", "data"),
        State("job-end", "data"),
        State("launch", "disabled"),
        prevent_initial_call=True,
    )
    def watch_job(_, launched, job, end, launch_disabled):
        if not isinstance(launched, dict):
            return None, True, no_update, no_update, no_update
        this_launch = launched.get("launch")
        key = job.get("key") if isinstance(job, dict) and job.get("launch") == this_launch else None
        ended = isinstance(end, dict) and end.get("launch") == this_launch
        verdict = job_verdict(cache.state(key), bool(launched.get("started")), ended, launch_disabled)
        if verdict == "running":
            return {**launched, "started": True}, False, no_update, no_update, no_update
        if verdict == "waiting":
            return no_update, False, no_update, no_update, no_update
        if verdict == "lost":
            return None, True, JOB_LOST, False, True
        return None, True, no_update, no_update, no_update


def _register_opening(app: Dash, config: AppConfig) -> None:
    """Open a cached run or a pySCENIC output, show a run's enrichment table, switch pages."""
    cache = config.cache

    @app.callback(
        Output("result-key", "data", allow_duplicate=True),
        Output("cached-runs", "options", allow_duplicate=True),
        Output("message", "children", allow_duplicate=True),
        Input("open-output", "n_clicks"),
        State("pyscenic-folder", "value"),
        State("pyscenic-expression", "value"),
        prevent_initial_call=True,
    )
    def open_output(_, folder, expression):
        # any other failure is said on the page by the app's error handler (report_error); results stay
        try:
            gate = gate_of(config)
            source = gate.folder(folder, "pySCENIC output folder")
            dataset = gate.dataset(expression) if expression else None
            columns = list(category_columns(obs_table(dataset))) if dataset else []
            key = cache.import_pyscenic(source, dataset, suggest(columns, CELLTYPE_HINTS))
        except GridappError as err:
            return no_update, no_update, f"Cannot open that output: {in_page_words(err)}"
        return key, run_options(config), ""

    @app.callback(
        Output("result-key", "data", allow_duplicate=True), Input("cached-runs", "value"), prevent_initial_call=True
    )
    def open_run(key):
        return key or no_update

    @app.callback(
        Output("enrichment-table", "data"),
        Output("enrichment-table", "columns"),
        Output("enrichment-panel", "hidden"),
        Input("result-key", "data"),
    )
    def show_enrichment(key):
        table = cache.load(key).adata.uns.get("enrichment") if key and key in cache else None
        if not isinstance(table, pd.DataFrame):
            return [], [], True
        return *table_payload(table), False

    @app.callback(
        Output("explore-page", "hidden"),
        Output("explore-views", "hidden"),
        Output("compare-views", "hidden"),
        Output("benchmark-page", "hidden"),
        Input("page", "value"),
    )
    def switch_page(page):
        return page == "Benchmark", page != "Explore", page != "Compare", page != "Benchmark"
