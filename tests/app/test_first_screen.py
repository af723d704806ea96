"""A fresh server's first page: the demo's result computed once in the background, from the form's defaults."""

from __future__ import annotations

import time

import pytest

from gridapp.app.config import AppConfig
from gridapp.app.server import first_run
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.demo import start_demo
from gridapp.jobs.params import DATA_DIR, DEMO_DIR


def _config(tmp_path, roots=(DATA_DIR,)) -> AppConfig:
    return AppConfig(
        data_roots=tuple(r.resolve() for r in roots),
        cache=ResultCache(tmp_path / "results"),
        upload_dir=tmp_path / "uploads",
    )


def test_the_first_run_is_the_forms_default_on_the_embedded_demo(tmp_path):
    params = first_run(_config(tmp_path))
    assert params is not None and params.input.endswith("kang2018_donor1016.h5ad")
    assert (params.cell_type_key, params.cell_types, params.donors, params.prune) == ("cluster_id", (), (), "prior")
    assert params.n_top_genes == 3000 and params.seed == 0  # the form's defaults (gridapp/jobs/settings.py)
    elsewhere = tmp_path / "lab"
    elsewhere.mkdir()
    assert first_run(_config(tmp_path, roots=(elsewhere,))) is None  # a lab's own data: nothing computed


@pytest.mark.slow  # computes the demo result
def test_the_demo_result_is_computed_once_in_its_own_process(tmp_path):
    cache = ResultCache(tmp_path / "results")
    params = first_run(_config(tmp_path)).with_changes(cell_types=("B cells",), n_top_genes=100)
    process = start_demo(cache, params)
    assert process is not None and process.pid
    deadline = time.monotonic() + 600
    while cache.state(cache.key(params)) != "running" and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert start_demo(cache, params) is None  # being computed: not started twice
    assert process.wait(timeout=600) == 0
    assert [run.key for run in cache.runs()] == [cache.key(params)]
    assert start_demo(cache, params) is None  # a result is stored: nothing to do
    assert DEMO_DIR.name in cache.runs()[0].params["input"]
