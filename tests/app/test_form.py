"""The control column's values → RunParams: method-specific fields only reach the methods that take them."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gridapp.app import form
from gridapp.app.benchmark import benchmark_outputs
from gridapp.app.compare import comparison_outputs
from gridapp.app.config import AppConfig
from gridapp.app.form import detected_outputs, params_from_form
from gridapp.app.runs import job_verdict
from gridapp.app.words import in_page_words
from gridapp.core.errors import GridappError
from gridapp.jobs.bench import BenchSpec
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.compare import CompareSpec
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import JobLimits, prepare
from gridapp.jobs.runner import JobDoor, launch

DATA = Path(__file__).resolve().parents[2] / "data"
SHARED = Path(os.environ.get("GRIDAPP_SHARED_DATA", DATA.parents[1] / "shared" / "data"))


def _config(tmp_path) -> AppConfig:
    return AppConfig(data_roots=(DATA,), cache=ResultCache(tmp_path / "cache"), upload_dir=tmp_path / "uploads")


def _form(**changes) -> dict:
    prior = str(DATA / "demo" / "dorothea_ABC_kang.tsv")
    base = {
        "input": str(DATA / "demo" / "kang2018_donor1016.h5ad"),
        "tfs": str(DATA / "demo" / "tfs_hg38_in_kang.txt"),
        "prune": "prior",
        "prior": prior,
        "train-prior": prior,
        "target-layer": "new",
        "tf-layer": "total",
    }
    return {**base, **changes}


def test_a_supervised_method_gets_the_training_prior_and_no_layers(tmp_path):
    params = params_from_form(_config(tmp_path), _form(method="scgreat"))
    assert params.train_prior == str(DATA / "demo" / "dorothea_ABC_kang.tsv") and params.target_layer is None


def test_the_lasso_gets_its_layers_and_other_methods_neither(tmp_path):
    lasso = params_from_form(_config(tmp_path), _form(method="lasso", fdr=0.3))
    assert (lasso.target_layer, lasso.tf_layer, lasso.fdr, lasso.train_prior) == ("new", "total", 0.3, None)
    trees = params_from_form(_config(tmp_path), _form(method="grnboost2-fast"))
    assert (trees.target_layer, trees.train_prior) == (None, None)


def test_a_subset_over_the_servers_limits_is_refused_by_the_preview_and_by_the_job(tmp_path):
    config = _config(tmp_path)
    params = params_from_form(config, _form(method="grnboost2-fast", **{"cell-type-key": "cluster_id"}))
    with pytest.raises(GridappError, match=r"cells; this server runs jobs of at most 100 cells \(GRIDAPP_MAX_CELLS\)"):
        detected_outputs(params, JobLimits(max_cells=100))
    assert detected_outputs(params, JobLimits(max_cells=10**6, max_genes=10**5)).data  # within the limits: drawn
    with pytest.raises(GridappError, match=r"at most 50 genes \(GRIDAPP_MAX_GENES\)") as refused:
        launch(params, config.cache, JobDoor(limits=JobLimits(max_genes=50), n_workers=1))
    assert "lower the number of top genes" in refused.value.hint
    assert not list(config.cache.runs())  # nothing stored


def test_the_preview_reads_the_data_again_only_for_a_change_that_can_alter_it(tmp_path, monkeypatch):
    dataset, tfs = tmp_path / "cells.h5ad", tmp_path / "tfs.txt"
    shutil.copy(DATA / "demo" / "kang2018_donor1016.h5ad", dataset)
    shutil.copy(DATA / "demo" / "tfs_hg38_in_kang.txt", tfs)
    config = AppConfig(data_roots=(tmp_path,), cache=ResultCache(tmp_path / "cache"), upload_dir=tmp_path / "up")
    reads = []
    monkeypatch.setattr(form, "prepare", lambda params, **kw: reads.append(params) or prepare(params, **kw))

    def preview(**changes):
        fields = {"input": str(dataset), "tfs": str(tfs), "cell-type-key": "cluster_id", "n-top-genes": 500}
        return detected_outputs(params_from_form(config, {**fields, "prune": "none", **changes}))

    first = preview()
    assert len(reads) == 1
    for unrelated in ({"auc-threshold": 0.2}, {"method": "genie3", "seed": 7}, {"runs": 3}):
        assert np.array_equal(preview(**unrelated).data[0].x, first.data[0].x)  # drawn from what was read
    assert len(reads) == 1
    preview(**{"cell-types": ["B cells"]})
    preview(**{"n-top-genes": 400})
    assert len(reads) == 3
    os.utime(dataset, ns=(dataset.stat().st_atime_ns, dataset.stat().st_mtime_ns + 10**9))  # the file changed
    preview()
    assert len(reads) == 4


def test_a_training_prior_outside_the_data_roots_is_refused(tmp_path):
    outside = tmp_path / "prior.tsv"
    outside.write_text("tf\tconfidence\ttarget\tmor\n")
    with pytest.raises(GridappError, match="outside the data folders"):
        params_from_form(_config(tmp_path), _form(method="deepdrim", **{"train-prior": str(outside)}))


@pytest.mark.parametrize(
    ("state", "started", "ended", "launch_disabled", "verdict"),
    [
        ("running", False, False, True, "running"),
        ("idle", False, False, True, "waiting"),  # queued
        ("idle", True, False, True, "lost"),  # its worker died and Dash still polls
        ("idle", False, False, False, "lost"),  # Dash saw the job end without a result or an answer
        ("idle", True, True, False, "over"),  # cancelled, or failed with a message
        ("done", True, False, True, "over"),
    ],
)
def test_the_job_watcher_tells_a_lost_job_from_a_queued_cancelled_or_finished_one(
    state, started, ended, launch_disabled, verdict
):
    assert job_verdict(state, started, ended, launch_disabled) == verdict


def _limited(tmp_path, max_cells: int) -> AppConfig:
    """A server whose job door allows ``max_cells`` cells and one job at a time (slots under tmp_path)."""
    door = JobDoor(slots=tmp_path / "slots", max_jobs=1, limits=JobLimits(max_cells=max_cells))
    return replace(
        _config(tmp_path),
        door=door,
        compare_dir=tmp_path / "compares",
        bench_dir=tmp_path / "bench",
        beeline_root=SHARED / "beeline",
    )


def test_every_job_kind_over_the_cell_limit_is_refused_before_it_enters_the_door(tmp_path):
    config = _limited(tmp_path, max_cells=100)
    params = params_from_form(config, _form(method="grnboost2-fast", **{"cell-type-key": "cluster_id"}))
    spec = CompareSpec(base=params, group_key="cluster_id", groups=("B cells", "CD14+ Monocytes"))
    refusals = [
        lambda: launch(params, config.cache, config.door),
        lambda: comparison_outputs(config, spec, lambda done, total, label: None),
    ]
    if (SHARED / "beeline" / "networks").is_dir():  # 383 cells
        bench = BenchSpec(("pearson",), ("mDC-500-Specific",), root=str(SHARED / "beeline"))
        refusals.append(lambda: benchmark_outputs(config, bench, lambda done, total, label: None))
    for refuse in refusals:
        with pytest.raises(GridappError, match="GRIDAPP_MAX_CELLS"):
            refuse()
    assert not (tmp_path / "slots").exists()  # no job took a slot, so none started workers
    assert not list(config.cache.runs())


@pytest.mark.parametrize(
    "changes",
    [{"prune": "cistarget"}, {"runs": 0}, {"n_top_genes": 0}, {"method": "deepdrim"}, {"auc_threshold": 2.0}],
)
def test_messages_on_the_page_name_its_controls_not_command_line_options(changes):
    with pytest.raises(GridappError) as refused:
        RunParams.demo(**changes)
    assert "--" in str(refused.value)  # the CLI's wording, kept for the CLI
    assert "--" not in in_page_words(refused.value) and "'" in in_page_words(refused.value)
