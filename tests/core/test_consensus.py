"""Consensus of several runs: planted edges recur in every run, noise edges do not."""

from __future__ import annotations

import numpy as np
from ctxcore.genesig import Regulon

from gridapp.core.consensus import consensus_adjacencies, consensus_regulons
from gridapp.core.methods import infer
from tests.core.test_boosting import _planted


def test_planted_edges_recur_in_every_run_and_noise_is_filtered():
    adata, tfs = _planted(seed=1, n_tfs=120)  # enough TFs that a noise TF is not used in every run
    runs = [infer(adata, tfs, method="grnboost2-fast", seed=seed) for seed in range(5)]
    everything = consensus_adjacencies(runs, min_occurrence=0.0)
    kept = consensus_adjacencies(runs, min_occurrence=0.8)
    planted = everything.set_index(["TF", "target"]).loc[[(f"TF{i}", f"G{i}") for i in range(6)]]
    assert (planted["occurrence"] == 1.0).all()
    assert len(kept) < len(everything) and (kept["occurrence"] >= 0.8).all()
    assert set(everything["occurrence"].round(6)) <= {0.2, 0.4, 0.6, 0.8, 1.0}
    # importance is the mean over all five runs, absent = 0
    edge = runs[0].iloc[-1]
    total = sum(run.set_index(["TF", "target"])["importance"].get((edge["TF"], edge["target"]), 0.0) for run in runs)
    got = everything.set_index(["TF", "target"]).loc[(edge["TF"], edge["target"]), "importance"]
    assert np.isclose(got, total / 5)
    assert kept["importance"].is_monotonic_decreasing and kept.attrs["runs"] == 5


def _regulon(name: str, genes: dict[str, float]) -> Regulon:
    return Regulon(name=name, gene2weight=genes, transcription_factor=name.split("(")[0], gene2occurrence=[])


def test_regulons_and_their_targets_must_recur():
    runs = [
        [_regulon("SPI1(+)", {"A": 1.0, "B": 2.0, "C": 1.0}), _regulon("TCF7(+)", {"X": 1.0})],
        [_regulon("SPI1(+)", {"A": 3.0, "B": 2.0})],
        [_regulon("SPI1(+)", {"A": 2.0, "B": 2.0, "D": 1.0}), _regulon("TCF7(+)", {"X": 1.0, "Y": 1.0})],
    ]
    kept, summary = consensus_regulons(runs, min_occurrence=0.6)
    assert [r.name for r in kept] == ["SPI1(+)", "TCF7(+)"]
    assert dict(kept[0].gene2weight) == {"A": 2.0, "B": 2.0} and kept[0].transcription_factor == "SPI1"
    strict, summary = consensus_regulons(runs, min_occurrence=0.8)
    assert [r.name for r in strict] == ["SPI1(+)"]
    assert summary.set_index("regulon").loc["TCF7(+)"].tolist() == [2 / 3, 0]
