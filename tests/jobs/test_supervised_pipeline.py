"""A supervised method end to end from the CLI: trained on a prior, its model kept beside the outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gridapp.cli import main
from gridapp.jobs.params import DEMO_DIR

pytest.importorskip("torch", reason="the supervised models need PyTorch (requirements-ml.txt)")
pytestmark = [pytest.mark.slow]


def test_scgreat_trains_on_the_demo_prior_and_keeps_its_model(tmp_path):
    prior = DEMO_DIR / "dorothea_ABC_kang.tsv"
    argv = ["run", "--demo", "--method", "scgreat", "--train-prior", str(prior), "--n-top-genes", "300"]
    assert main([*argv, "--cell-types", "B cells,CD14+ Monocytes", "--workers", "1", "--out", str(tmp_path)]) == 0
    adjacencies = pd.read_csv(tmp_path / "adjacencies.csv")
    assert adjacencies["importance"].between(0, 1).all() and adjacencies["importance"].is_monotonic_decreasing
    metadata = json.loads((tmp_path / "model" / "seed_0" / "model.json").read_text())
    assert metadata["kind"] == "scgreat" and len(metadata["fingerprint"]) == 64 and metadata["history"]
    assert set(adjacencies["target"]) <= set(metadata["genes"])
    assert (tmp_path / "regulon_targets.csv").is_file()


def test_a_supervised_method_without_a_training_prior_is_one_clear_line(tmp_path, capsys):
    assert main(["run", "--demo", "--method", "deepdrim", "--out", str(tmp_path / "out")]) == 2
    assert "--train-prior" in capsys.readouterr().err
