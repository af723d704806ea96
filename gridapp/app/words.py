"""What the page says: command-line options named as the page's controls, tables, runs in words, and the
message of an unexpected error."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd
from dash import ctx, set_props
from dash.dash_table.Format import Format, Scheme

from gridapp.app.config import AppConfig, caller_space
from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.settings import SETTINGS

logger = logging.getLogger(__name__)

#: command-line options that messages of the core and jobs layers name, and the controls that set them on the page:
#: each setting's flag (with its metavar) as its label, then the options that are not settings
PAGE_WORDS = (
    *(
        (rf"{re.escape(setting.flag)}(?: FILE(?: \[FILE \.\.\.\])?| COLUMN)?(?![\w-])", f"'{setting.label}'")
        for setting in sorted(SETTINGS, key=lambda setting: -len(setting.flag))
        if setting.name not in ("method", "gene_symbols", "prune")
    ),
    (r"--prune (\w+)", r"pruning '\1'"),
    (r"--method (\w+)", r"the method \1"),
    (r"--split (\S+)", r"'Pairs scored' \1"),
    (r"--seeds", "'Seeds'"),
    (r"pass --gene-symbols COLUMN", "upload the file with a var column of gene symbols"),
    (r"--gene-symbols COLUMN", "a var column of gene symbols"),
)


def in_page_words(err: GridappError) -> str:
    """``err``'s message and hint with each command-line option named as the page's control that sets it."""
    text = str(err)
    for option, control in PAGE_WORDS:
        text = re.sub(option, control, text)
    return text


def report_error(err: Exception) -> None:
    """The dashboard's handler of an unexpected error in any callback: logged with its traceback on the
    server, and a message instead of an HTTP 500 on the page (earlier results stay as they were)."""
    logger.error("callback %s failed", ctx.triggered_id if ctx else "?", exc_info=err)
    set_props(
        "message",
        {
            "children": "That request could not be answered (it may not match this page: reload it). "
            "Earlier results are unchanged."
        },
    )


def table_payload(table: pd.DataFrame | None) -> tuple[list[dict], list[dict]]:
    """A DataTable's rows and columns for ``table``: numbers stay sortable and show 3 significant digits,
    booleans read yes / no."""
    if table is None:
        return [], []
    shown = table.assign(**{c: table[c].map({True: "yes", False: "no"}) for c in table if table[c].dtype == bool})
    number = {"type": "numeric", "format": Format(precision=3, scheme=Scheme.decimal_or_exponent)}
    columns = [{"name": c, "id": c, **(number if pd.api.types.is_float_dtype(shown[c]) else {})} for c in shown]
    return shown.to_dict("records"), columns


def run_options(config: AppConfig) -> list[dict]:
    """Dropdown options for the cached runs the caller may see, newest first: runs on the data roots, and
    runs on uploads of the caller's own space (never another user's)."""
    space = caller_space(config)
    options = []
    for run in config.cache.runs():
        params, counts = run.params, run.summary["counts"]
        source = Path(params["input"])
        if source.is_relative_to(config.upload_dir) and not (space and source.is_relative_to(space)):
            continue
        label = (
            f"{source.name} · {run_subset(params)} · {params['method']} seed {params['seed']} · "
            f"{params['prune']} · {counts['regulons']} regulons"
        )
        options.append({"label": label, "value": run.key})
    return options


def run_subset(params: dict) -> str:
    """The cells a run used, in words: its cell types (or all cells), donors and groups (a comparison's)."""
    parts = [", ".join(params.get("cell_types") or []) or "all cells"]
    if params.get("donors"):
        parts.append(f"donors {', '.join(params['donors'])}")
    if params.get("groups"):
        parts.append(f"{params.get('group_key')}: {' + '.join(params['groups'])}")
    return " · ".join(parts)


def computed_on(cache: ResultCache, key: str) -> str:
    """When the result under ``key`` was stored, to the minute (local time)."""
    stored = (cache.path(key) / "run.json").stat().st_mtime
    return dt.datetime.fromtimestamp(stored).strftime("%Y-%m-%d %H:%M")
