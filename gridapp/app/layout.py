"""The dashboard's control column: data, subset, inference and pruning choices, launch / cancel, and results to
open. The Explore, Compare and Benchmark views are in :mod:`gridapp.app.pages`."""

from __future__ import annotations

from dash import dcc, html

from gridapp.app.widgets import field
from gridapp.core.methods import METHODS
from gridapp.jobs.pipeline import STEPS
from gridapp.jobs.settings import BY_NAME, PRUNE_MODES, form_settings


def controls(
    datasets: list[dict],
    tf_lists: list[dict],
    priors: list[dict],
    motif_files: list[dict],
    runs: list[dict],
    outputs: list[dict],
    max_upload_mb: int = 500,
) -> html.Aside:
    """The left column: dataset, subset, method and pruning choices, launch / cancel, cached runs and
    pySCENIC outputs to open (an upload over ``max_upload_mb`` is refused by the browser).

    Every run setting's control has its :data:`~gridapp.jobs.settings.SETTINGS` entry's id and label; the numbers
    of each group are drawn from it (:func:`number_fields`)."""
    return html.Aside(
        [
            html.P(
                "1. Choose the data and cells · 2. Launch · 3. Explore the regulons on the right.", className="steps"
            ),
            *_data_fields(datasets, tf_lists, max_upload_mb),
            *_inference_fields(priors),
            *_pruning_fields(priors, motif_files),
            _launch_bar(),
            *_result_fields(datasets, runs, outputs),
        ],
        className="controls",
    )


def number_fields(group: str) -> html.Div:
    """A row of number inputs, one per number setting of ``group`` that the form shows: bounds, increment, default
    and tooltip from the setting (an empty input means its default; ``auto`` when it is chosen from the data)."""
    return html.Div(
        [
            field(
                setting.label,
                dcc.Input(
                    id=setting.component,
                    type="number",
                    value=setting.default,
                    min=setting.low,
                    max=setting.high,
                    step=setting.step_by,
                    placeholder="auto" if setting.default is None else str(setting.default),
                ),
                setting.help,
            )
            for setting in form_settings()
            if setting.group == group and setting.kind in ("int", "float")
        ],
        className="row",
    )


def _setting_field(name: str, control) -> html.Div:
    """``control`` labelled with setting ``name``'s label, its help as the tooltip."""
    return field(BY_NAME[name].label, control, BY_NAME[name].help)


def _empty_words(name: str) -> str:
    """What setting ``name`` left empty means (``all cell types``): a control's placeholder."""
    return f"{BY_NAME[name].empty} {BY_NAME[name].label.lower()}"


def _data_fields(datasets: list[dict], tf_lists: list[dict], max_upload_mb: int) -> list:
    return [
        html.H2("Data"),
        _setting_field(
            "input",
            dcc.Dropdown(
                id="input", options=datasets, value=datasets[0]["value"] if datasets else None, clearable=False
            ),
        ),
        dcc.Upload(
            id="upload",
            children=html.Div(
                ["Drop or ", html.A("choose"), f" an .h5ad / .loom file (at most {max_upload_mb:,} MB)"],
                **{"data-max-bytes": str(max_upload_mb * 2**20)},  # assets/gridapp.js says why a larger one fails
            ),
            className="upload",
            max_size=max_upload_mb * 2**20,
        ),
        _setting_field("donor_key", dcc.Dropdown(id="donor-key", placeholder="choose a donor column")),
        _setting_field("donors", dcc.Dropdown(id="donors", multi=True, placeholder=_empty_words("donors"))),
        _setting_field("cell_type_key", dcc.Dropdown(id="cell-type-key", placeholder="choose a cell-type column")),
        _setting_field("cell_types", dcc.Dropdown(id="cell-types", multi=True, placeholder=_empty_words("cell_types"))),
        html.Div(id="cell-count", className="count"),
        _setting_field(
            "tfs",
            dcc.Dropdown(id="tfs", options=tf_lists, value=tf_lists[0]["value"] if tf_lists else None, clearable=False),
        ),
        number_fields("genes"),
    ]


def _inference_fields(priors: list[dict]) -> list:
    return [
        html.H2("Inference"),
        _setting_field(
            "method",
            dcc.Dropdown(
                id="method",
                options=[{"label": m.name, "value": m.id} for m in METHODS.values()],
                value=BY_NAME["method"].default,
                clearable=False,
            ),
        ),
        html.Div(
            [
                _setting_field("target_layer", dcc.Dropdown(id="target-layer", placeholder="X")),
                _setting_field("tf_layer", dcc.Dropdown(id="tf-layer", placeholder="X")),
            ],
            id="layer-fields",
            hidden=True,
        ),
        html.Div(
            _setting_field(
                "train_prior",
                dcc.Dropdown(id="train-prior", options=priors, value=priors[0]["value"] if priors else None),
            ),
            id="train-fields",
            hidden=True,
        ),
        number_fields("inference"),
        number_fields("activity"),
        dcc.Graph(id="genes-detected", config={"displayModeBar": False}),
    ]


def _pruning_fields(priors: list[dict], motif_files: list[dict]) -> list:
    return [
        _setting_field(
            "prune",
            dcc.RadioItems(
                id="prune",
                value="prior",  # the demo's: its prior ships with it
                inline=True,
                options=[{"label": {"cistarget": "cisTarget"}.get(mode, mode), "value": mode} for mode in PRUNE_MODES],
            ),
        ),
        html.Div(
            [
                _setting_field(
                    "prior", dcc.Dropdown(id="prior", options=priors, value=priors[0]["value"] if priors else None)
                ),
                _setting_field(
                    "prior_confidence",
                    dcc.Checklist(
                        id="prior-confidence", options=list(BY_NAME["prior_confidence"].choices), value=[], inline=True
                    ),
                ),
                number_fields("pruning"),
            ],
            id="prior-fields",
        ),
        html.Div(
            [
                _setting_field("motif_dbs", dcc.Dropdown(id="motif-dbs", options=motif_files, multi=True)),
                _setting_field(
                    "motif_annotations",
                    dcc.Dropdown(id="motif-annotations", options=motif_files, placeholder="choose a motif table"),
                ),
            ],
            id="motif-fields",
        ),
    ]


def _launch_bar() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Button("Launch", id="launch", className="primary"),
                    html.Button("Cancel", id="cancel", disabled=True),
                ],
                className="row",
            ),
            html.Progress(id="progress", value="0", max=str(len(STEPS)), **{"aria-label": "run progress"}),
            html.Div(id="status", className="status", role="status"),
            dcc.Store(id="launched"),
            dcc.Store(id="job-key"),
            dcc.Store(id="job-end"),
            dcc.Interval(id="job-watch", interval=2000, disabled=True),
        ],
        className="launchbar",
    )


def _result_fields(datasets: list[dict], runs: list[dict], outputs: list[dict]) -> list:
    return [
        html.H2("Results"),
        field("Cached runs", dcc.Dropdown(id="cached-runs", options=runs, placeholder="open a cached run")),
        field(
            "pySCENIC output (no recomputation)",
            dcc.Dropdown(id="pyscenic-folder", options=outputs, placeholder="folder with adj + loom or auc"),
        ),
        field(
            "Its expression (optional: genes and cell types)",
            dcc.Dropdown(id="pyscenic-expression", options=datasets, placeholder="the dataset AUCell scored"),
        ),
        html.Button("Open output", id="open-output"),
    ]
