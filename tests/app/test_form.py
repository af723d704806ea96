"""The control column's values → RunParams: method-specific fields only reach the methods that take them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridapp.app.callbacks import AppConfig, detected_outputs, job_verdict, params_from_form
from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.pipeline import JobLimits
from gridapp.jobs.runner import JobDoor, launch

DATA = Path(__file__).resolve().parents[2] / "data"


def _config(tmp_path) -> AppConfig:
    return AppConfig(data_roots=(DATA,), cache=ResultCache(tmp_path / "cache"), upload_dir=tmp_path / "uploads")


def _form(**changes) -> dict:
    prior = str(DATA / "demo" / "dorothea_ABC_kang.tsv")
    base = {
        "dataset": str(DATA / "demo" / "kang2018_donor1016.h5ad"),
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
    params = params_from_form(config, _form(method="grnboost2-fast", **{"celltype-key": "cluster_id"}))
    with pytest.raises(GridappError, match=r"cells; this server runs jobs of at most 100 cells \(GRIDAPP_MAX_CELLS\)"):
        detected_outputs(params, JobLimits(max_cells=100))
    assert detected_outputs(params, JobLimits(max_cells=10**6, max_genes=10**5)).data  # within the limits: drawn
    with pytest.raises(GridappError, match=r"at most 50 genes \(GRIDAPP_MAX_GENES\)") as refused:
        launch(params, config.cache, JobDoor(limits=JobLimits(max_genes=50), n_workers=1))
    assert "lower the number of top genes" in refused.value.hint
    assert not list(config.cache.runs())  # nothing stored


def test_a_training_prior_outside_the_data_roots_is_refused(tmp_path):
    outside = tmp_path / "prior.tsv"
    outside.write_text("tf\tconfidence\ttarget\tmor\n")
    with pytest.raises(GridappError, match="outside the data folders"):
        params_from_form(_config(tmp_path), _form(method="deepdrim", **{"train-prior": str(outside)}))


@pytest.mark.parametrize(
    ("state", "started", "status", "launch_disabled", "verdict"),
    [
        ("running", False, "Queued: waiting for a free worker …", True, "running"),
        ("idle", False, "Queued: waiting for a free worker …", True, "waiting"),
        ("idle", True, "step 4/9: grn …", True, "lost"),  # its worker died and Dash still polls
        ("idle", False, "step 1/9: load …", False, "lost"),  # Dash saw the job end without a result
        ("idle", True, "Cancelled: nothing was stored; earlier results are unchanged.", False, "over"),
        ("idle", True, "Run failed: no such column", False, "over"),
        ("done", True, "step 9/9: summaries …", True, "over"),
    ],
)
def test_the_job_watcher_tells_a_lost_job_from_a_queued_cancelled_or_finished_one(
    state, started, status, launch_disabled, verdict
):
    assert job_verdict(state, started, status, launch_disabled) == verdict
