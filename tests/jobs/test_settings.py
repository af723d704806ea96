"""The settings schema: one declaration per setting drives the CLI, the dashboard form, run.json and the docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridapp.cli import build_parser, params_from_args
from gridapp.core.errors import GridappError
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import PREPARE_FIELDS, STEPS
from gridapp.jobs.settings import SETTINGS, settings_table

ROOT = Path(__file__).resolve().parents[2]
TABLE_START = "<!-- settings table: generated from gridapp/jobs/settings.py -->"
TABLE_END = "<!-- end of settings table -->"

#: run in a fresh interpreter: one new entry in SETTINGS, then what the CLI, the form and run.json make of it
DUMMY_SETTING = """
import json, sys
from gridapp.jobs import settings
settings.SETTINGS.append(settings.Setting(
    "dummy_option", "Dummy option", "a setting added by a test", "inference", "grn", kind="int", default=7, low=0))
from gridapp.cli import build_parser, params_from_args
from gridapp.app.form import FORM_FIELDS, params_from_form
from gridapp.app.config import AppConfig
from gridapp.jobs.cache import ResultCache
import tempfile
from gridapp.app.layout import controls
from gridapp.jobs.params import DEMO_DIR, RunParams

args = build_parser().parse_args(["run", "--demo", "--dummy-option", "9", "--out", "unused"])
from_cli = params_from_args(args)
page = controls([], [], [], [], [], [])
inputs = {}
def walk(node):
    if getattr(node, "id", None) == "dummy-option":
        inputs.update(value=node.value, min=node.min, type=node.type)
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        walk(child)
walk(page)
form = {"input": str(DEMO_DIR / "kang2018_donor1016.h5ad"), "tfs": str(DEMO_DIR / "tfs_hg38_in_kang.txt"),
        "dummy-option": 11}
scratch = tempfile.mkdtemp()
config = AppConfig(data_roots=(DEMO_DIR,), cache=ResultCache(scratch + "/cache"), upload_dir=scratch + "/up")
from_form = params_from_form(config, form)
json.dump({
    "cli": from_cli.dummy_option,
    "cli_default": params_from_args(build_parser().parse_args(["run", "--demo", "--out", "o"])).dummy_option,
    "in_form_fields": "dummy-option" in FORM_FIELDS,
    "form_input": inputs,
    "form": from_form.dummy_option,
    "run_json": from_cli.to_dict()["dummy_option"],
    "key_changes": from_cli.cache_key("x") != from_cli.with_changes(dummy_option=8).cache_key("x"),
}, sys.stdout)
"""


def test_a_new_setting_reaches_the_cli_the_form_and_run_json_from_its_one_declaration():
    """Appending one Setting (nothing else) gives a --dummy-option flag, a number input with its default and
    bounds, a form value read into RunParams, a run.json key, and a part in the content key."""
    done = subprocess.run(
        [sys.executable, "-c", DUMMY_SETTING], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert (seen["cli"], seen["cli_default"], seen["form"], seen["run_json"]) == (9, 7, 11, 9)
    assert seen["in_form_fields"] and seen["form_input"] == {"value": 7, "min": 0, "type": "number"}
    assert seen["key_changes"]


def test_the_docs_settings_table_is_the_schemas():
    """docs/cli.md holds :func:`settings_table` between its markers: regenerate it when a setting changes."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, "docs/cli.md lost the settings table markers"
    documented = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert documented == settings_table(), "docs/cli.md's settings table differs from gridapp/jobs/settings.py"


def test_every_setting_has_one_spelling_and_a_known_step():
    """Flag and control id are the field name with dashes; every setting is a RunParams field, read by a
    pipeline step; the steps before inference are exactly the ones that decide cells and genes."""
    fields = list(RunParams.__dataclass_fields__)
    assert fields == [setting.name for setting in SETTINGS]
    for setting in SETTINGS:
        assert setting.flag == "--" + setting.name.replace("_", "-") == "--" + setting.component
        assert setting.step in STEPS
    assert set(PREPARE_FIELDS) == {s.name for s in SETTINGS if STEPS.index(s.step) < STEPS.index("grn")}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "-1"], "--seed must be ≥ 0, got -1"),
        (["--min-cells-fraction", "1.5"], "--min-cells-fraction must be in [0, 1], got 1.5"),
        (["--fdr", "0"], "--fdr must be in (0, 1], got 0"),
        (["--auc-threshold", "nan"], "--auc-threshold must be in (0, 1], got nan"),
        (["--target-layer", "new"], "--target-layer applies to lasso, not 'grnboost2-fast'"),
        (["--prune", "cistarget"], "cisTarget pruning needs ranking databases"),
    ],
)
def test_a_value_outside_a_settings_bounds_is_refused_by_name(flags, message):
    args = build_parser().parse_args(["run", "--demo", *flags, "--out", "unused"])
    with pytest.raises(GridappError, match=message.replace("(", r"\(").replace("[", r"\[")):
        params_from_args(args)


@pytest.mark.parametrize(
    "flags",
    [
        ["--input", "{tmp}/typo.h5ad"],
        ["--tfs", "{tmp}/typo.txt"],
        [
            "--prune",
            "cistarget",
            "--motif-dbs",
            "{tmp}/here.feather",
            "{tmp}/typo.feather",
            "--motif-annotations",
            "{tmp}/here.feather",
        ],
    ],
)
def test_a_missing_file_is_named_before_the_run_starts(tmp_path, flags):
    (tmp_path / "here.feather").touch()
    args = build_parser().parse_args(["run", "--demo", *(f.format(tmp=tmp_path) for f in flags), "--out", "unused"])
    with pytest.raises(GridappError, match=r"/typo\.(h5ad|txt|feather): no such file \(--(input|tfs|motif-dbs)\)"):
        params_from_args(args)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_number_that_is_not_finite_is_refused_whatever_sent_it(value):
    """JSON from a request may carry NaN or Infinity (Python's parser takes them): no bound lets them through."""
    for name in ("auc_threshold", "min_occurrence", "fdr", "min_cells_fraction"):
        with pytest.raises(GridappError, match=f"--{name.replace('_', '-')} must be"):
            RunParams.demo(**{name: value})


def test_defaults_are_the_schemas_everywhere():
    """The CLI without options, RunParams' own defaults and the schema agree (one place for each default)."""
    from_cli = params_from_args(build_parser().parse_args(["run", "--demo", "--prune", "none", "--out", "o"]))
    for setting in SETTINGS:
        if not setting.required and setting.name not in ("cell_type_key", "donor_key"):  # the demo sets these two
            assert getattr(from_cli, setting.name) == setting.default, setting.name
