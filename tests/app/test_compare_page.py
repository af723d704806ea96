"""The Compare page without a browser: group counts follow the cells chosen on the left, the job says what it
does at once, refusals speak the page's words (never a CLI flag), and a missing table says how to get it."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from dash import no_update

from gridapp.app.compare import comparison_job, comparison_spec, group_choices, table_file
from gridapp.app.config import AppConfig
from gridapp.core.errors import GridappError
from gridapp.figures.compare import EMPTY
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.compare import CompareResult, CompareSpec, compare_key, save_compare
from gridapp.jobs.pipeline import NO_LIMITS, JobLimits
from gridapp.jobs.runner import JobDoor

DATA = Path(__file__).resolve().parents[2] / "data"
PREPARING = ("0", "1", "Preparing the comparison …")


def _config(tmp_path: Path, limits: JobLimits = NO_LIMITS) -> AppConfig:
    return AppConfig(
        data_roots=(DATA,),
        cache=ResultCache(tmp_path / "cache"),
        upload_dir=tmp_path / "uploads",
        compare_dir=tmp_path / "compare",
        door=JobDoor(limits=limits),
    )


def _form(**changes) -> dict:
    """The control column on the demo data (one donor, four cell types, no group column)."""
    base = {
        "input": str(DATA / "demo" / "kang2018_donor1016.h5ad"),
        "tfs": str(DATA / "demo" / "tfs_hg38_in_kang.txt"),
        "cell-type-key": "cluster_id",
        "prune": "none",
    }
    return {**base, **changes}


def _choices(group_key=None, a=None, b=None, reproducibility=()) -> tuple:
    """The page's group column, group a, group b, top edges and reproducibility tick."""
    return group_key, a, b, 5000, list(reproducibility)


OBS = pd.DataFrame(
    {
        "condition": ["ctrl"] * 6 + ["stim"] * 4 + ["washout"] * 2,
        "cell_type": ["B", "T", "T", "T", "NK", "NK", "B", "B", "T", "NK", "NK", "NK"],
        "donor": ["d1", "d2"] * 6,
    }
)


def _labels(options: list[dict]) -> list[str]:
    return [option["label"] for option in options]


def test_group_counts_follow_the_cell_types_and_donors_chosen_on_the_left():
    everything, a, b = group_choices(OBS, "condition", [("donor", []), ("cell_type", [])], (None, None))
    assert _labels(everything) == ["ctrl (6 cells)", "stim (4 cells)", "washout (2 cells)"]
    assert (a, b) == ("ctrl", "stim")
    t_cells, _, _ = group_choices(OBS, "condition", [("donor", []), ("cell_type", ["T"])], (a, b))
    assert _labels(t_cells) == ["ctrl (3 cells)", "stim (1 cells)", "washout (0 cells)"]
    one_donor, _, _ = group_choices(OBS, "condition", [("donor", ["d1"]), ("cell_type", ["T", "NK"])], (a, b))
    assert _labels(one_donor) == ["ctrl (2 cells)", "stim (1 cells)", "washout (1 cells)"]


def test_chosen_groups_stay_while_they_have_cells_and_are_replaced_when_not():
    subset = [("donor", []), ("cell_type", ["NK"])]
    assert group_choices(OBS, "condition", subset, ("washout", "ctrl"))[1:] == ("washout", "ctrl")
    b_cells = [("donor", []), ("cell_type", ["B"])]  # no washout B cells: washout gives way to the next value
    assert group_choices(OBS, "condition", b_cells, ("washout", "ctrl"))[1:] == ("stim", "ctrl")
    assert group_choices(OBS, None, subset, ("ctrl", "stim")) == ([], None, None)
    assert group_choices(pd.DataFrame(), "condition", subset, ("ctrl", "stim")) == ([], None, None)


@pytest.mark.parametrize(
    ("choices", "form", "words"),
    [
        (_choices(), {}, "Nothing to compare. Choose a group column and two of its values above, or tick"),
        (_choices("cluster_id", "B cells"), {}, "Choose two different values of the group column as Group a"),
        (_choices("cluster_id", "B cells", "B cells"), {}, "exactly two different groups"),
        (_choices(reproducibility=["on"]), {"donor-key": None}, "Choose a donor column on the left"),
    ],
)
def test_an_incomplete_comparison_is_refused_in_the_page_s_words(tmp_path, choices, form, words):
    told = []
    key, status = comparison_job(_config(tmp_path), _form(**form), choices, told.append)
    assert key is no_update and status.startswith("Comparison failed: ") and words in status
    assert "--" not in status  # no CLI flag
    assert not (tmp_path / "compare").exists()


def test_the_job_says_what_it_does_before_anything_slow_and_nothing_once_over(tmp_path):
    told = []
    config = _config(tmp_path, JobLimits(max_cells=100))  # refused after preparing, before any worker starts
    choices = _choices("cluster_id", "B cells", "NK cells")
    key, status = comparison_job(config, _form(), choices, told.append)
    assert key is no_update and "GRIDAPP_MAX_CELLS" in status
    assert told[0] == PREPARING
    assert all(text.startswith("Preparing the comparison") for _, _, text in told)
    over = list(told)
    time.sleep(1.5)  # longer than a tick
    assert told == over


def test_a_stored_comparison_is_done_at_once(tmp_path):
    config = _config(tmp_path)
    spec = _spec(config)
    folder = _store(config.compare_dir, compare_key(spec, config.cache), spec)
    told = []
    key, status = comparison_job(config, _form(), _choices("cluster_id", "B cells", "NK cells"), told.append)
    assert key == folder.name and status.startswith("Done") and told == [PREPARING]


def _spec(config: AppConfig) -> CompareSpec:
    """B cells against NK cells of the demo data, as the page asks for it."""
    return comparison_spec(config, _form(), "cluster_id", ("B cells", "NK cells"), 5000, [])


def _store(compare_dir: Path, key: str, spec: CompareSpec) -> Path:
    """A stored comparison with a differential table only (no rewiring, no reproducibility)."""
    folder = compare_dir / key
    folder.mkdir(parents=True)
    differential = pd.DataFrame({"cell_type": ["B cells"], "regulon": ["STAT1(+)"], "delta": [0.1]})
    result = CompareResult(differential, None, None, spec.group_key, spec.groups, keys={"union": "0" * 32})
    save_compare(result, spec, folder)
    return folder


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("reproducibility", "Reproducibility CSV: this comparison has no such table. Tick 'reproducibility across"),
        ("rewiring_edges", "Rewired edges CSV: this comparison has no such table. Choose a group column"),
    ],
)
def test_a_table_the_comparison_lacks_says_how_to_get_it(tmp_path, table, words):
    folder = _store(tmp_path, "a" * 32, _spec(_config(tmp_path)))
    assert table_file(tmp_path, folder.name, "differential") == folder / "differential.csv"
    with pytest.raises(GridappError) as refused:
        table_file(tmp_path, folder.name, table)
    assert words in str(refused.value) and str(refused.value).endswith("and compare again to get this table.")


@pytest.mark.parametrize(("key", "table"), [(None, "differential"), ("b" * 32, "differential"), ("a" * 32, "../x")])
def test_no_comparison_or_a_forged_table_name_gives_no_file(tmp_path, key, table):
    _store(tmp_path, "a" * 32, _spec(_config(tmp_path)))
    with pytest.raises(GridappError):
        table_file(tmp_path, key, table)


def test_before_a_comparison_each_view_says_what_will_appear_there(tmp_path):
    from gridapp.app.server import create_app

    client = create_app(cache_dir=tmp_path / "cache", max_upload_mb=1, beeline_root=None).server.test_client()
    inputs = [
        {"id": "comparison", "property": "data", "value": None},
        {"id": "compare-celltype", "property": "value", "value": None},
        {"id": "regulon", "property": "value", "value": None},
    ]
    body = {"output": "volcano.figure", "outputs": {"id": "volcano", "property": "figure"}, "inputs": inputs}
    reply = client.post("/_dash-update-component", json={**body, "changedPropIds": [], "state": []})
    figure = reply.get_json()["response"]["volcano"]["figure"]
    assert [note["text"].replace("<br>", " ") for note in figure["layout"]["annotations"]] == [EMPTY["volcano"]]
    assert not figure.get("data") and figure["layout"]["xaxis"]["visible"] is False  # no bare axes
