"""The control column's values → RunParams: method-specific fields only reach the methods that take them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridapp.app.callbacks import AppConfig, params_from_form
from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache

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


def test_a_training_prior_outside_the_data_roots_is_refused(tmp_path):
    outside = tmp_path / "prior.tsv"
    outside.write_text("tf\tconfidence\ttarget\tmor\n")
    with pytest.raises(GridappError, match="outside the data folders"):
        params_from_form(_config(tmp_path), _form(method="deepdrim", **{"train-prior": str(outside)}))
