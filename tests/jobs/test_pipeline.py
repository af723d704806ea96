"""Pipeline steps report progress and stop when cancelled; RunParams validate and address results."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from gridapp.core.errors import GridappError
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import STEPS, Cancelled, output_folder, run, write_outputs


def test_cancel_stops_between_steps_and_progress_is_in_order(tmp_path):
    seen = []
    with pytest.raises(Cancelled, match="'grn'"):
        run(
            RunParams.demo(),
            cache_dir=tmp_path,
            progress=lambda index, total, name: seen.append((index, total, name)),
            cancelled=lambda: len(seen) == 3,
        )
    assert seen == [(i, len(STEPS), STEPS[i]) for i in range(3)]


def test_params_validate_pruning_options():
    with pytest.raises(GridappError, match="ranking databases and motif annotations"):
        RunParams(input="x.h5ad", tfs="t.txt", prune="cistarget", motif_dbs=("db.feather",))
    with pytest.raises(GridappError, match="needs a prior"):
        RunParams(input="x.h5ad", tfs="t.txt", prune="prior")
    with pytest.raises(GridappError, match="--prune cannot be 'motifs'"):
        RunParams(input="x.h5ad", tfs="t.txt", prune="motifs")
    assert RunParams.demo(prune="none").prior is None


def test_cache_key_follows_content_and_parameters(tmp_path):
    params = RunParams.demo()
    moved = tmp_path / "moved.h5ad"
    shutil.copy(params.input, moved)
    key = params.cache_key("abc")
    assert params.with_changes(input=str(moved)).cache_key("abc") == key  # paths do not matter
    assert params.with_changes(seed=1).cache_key("abc") != key
    assert params.with_changes(cell_types=("B cells",)).cache_key("abc") != key
    assert params.cache_key("abd") != key


def test_output_folder_with_files_is_refused_then_replaced_only_once_the_new_outputs_are_complete(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.csv").write_text("x")
    with pytest.raises(GridappError, match="already holds files"), output_folder(out):
        pass
    with pytest.raises(RuntimeError, match="run failed"), output_folder(out, overwrite=True) as scratch:
        (scratch / "new.csv").write_text("half")
        raise RuntimeError("run failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["old.csv"]
    with output_folder(out, overwrite=True) as scratch:
        (scratch / "new.csv").write_text("y")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["new.csv"]


@pytest.mark.slow
def test_several_runs_give_a_consensus_with_occurrences(tmp_path):
    params = RunParams.demo(cell_types=("CD14+ Monocytes", "B cells"), n_top_genes=300, runs=3, min_occurrence=0.6)
    result = run(params, cache_dir=tmp_path)
    adjacencies = result.adjacencies
    assert set(adjacencies["occurrence"].round(6)) <= {round(2 / 3, 6), 1.0}
    assert adjacencies["importance"].is_monotonic_decreasing and result.summary["grn"]["runs"] == 3
    occurrence = result.adata.uns["consensus"]["regulons"]
    kept = occurrence[occurrence["n_targets"] > 0]
    assert sorted(kept["regulon"]) == sorted(r.name for r in result.regulons) and (kept["occurrence"] >= 0.6).all()
    with output_folder(tmp_path / "out") as out:
        written = write_outputs(result, out, cell_type_key="cluster_id")
    assert "regulon_occurrence.csv" in {path.name for path in written}
    assert "occurrence" in pd.read_csv(tmp_path / "out" / "adjacencies.csv", nrows=3).columns


def test_runs_and_occurrence_are_validated():
    with pytest.raises(GridappError, match="--runs"):
        RunParams.demo(runs=0)
    with pytest.raises(GridappError, match="--min-occurrence"):
        RunParams.demo(min_occurrence=1.5)


def test_differences_name_each_changed_setting_in_words_and_an_empty_subset_as_all():
    stored = RunParams.demo(cell_types=("CD14+ Monocytes",), n_top_genes=300).to_dict()
    shown = RunParams.demo().differences(stored)
    assert shown == ["cell types: all here, CD14+ Monocytes in the result", "top genes: 3000 here, 300 in the result"]
    no_prior = RunParams.demo(prune="none").differences(RunParams.demo().to_dict())
    assert no_prior == [
        "pruning: none here, prior in the result",
        "prior network: none here, dorothea_ABC_kang.tsv in the result",
    ]
    assert RunParams.demo().differences(RunParams.demo().to_dict()) == []
