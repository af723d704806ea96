"""Benchmark runner and ``python -m gridapp bench``: tidy scores, splits, cached networks, bad input."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from gridapp.cli import main
from gridapp.core.beeline import read_beeline
from gridapp.core.errors import GridappError
from gridapp.jobs.bench import SCORE_COLUMNS, BenchSpec, load_result, run_benchmark, save_result
from tests.conftest import shared


def test_scores_are_tidy_and_the_test_split_scores_only_its_pairs(tmp_path):
    root = str(shared("beeline"))
    full = run_benchmark(BenchSpec(("pearson", "spearman"), ("mDC-500-Specific",), root=root), cache_dir=tmp_path)
    test = run_benchmark(BenchSpec(("pearson",), ("mDC-500-Specific",), split="test", root=root), cache_dir=tmp_path)
    assert list(full.scores.columns) == SCORE_COLUMNS
    row = full.scores.iloc[0]
    assert (row["dataset"], row["ground_truth"], row["gene_set"], row["split"]) == (
        "mDC",
        "Specific",
        "TFs+500",
        "full",
    )
    auroc = full.scores.query("metric == 'auroc'").set_index("method")["value"]
    assert set(auroc.index) == {"pearson", "spearman"} and auroc.between(0.3, 0.8).all()
    assert set(test.scores["split"]) == {"test"}
    assert test.summary("auroc").loc["pearson", "mDC-500-Specific"] != auroc["pearson"]  # other pairs, other score
    roc, pr = full.curves[("pearson", "mDC-500-Specific", 0)]
    assert roc["fpr"].is_monotonic_increasing and len(pr) <= 1000


def test_the_tf_aware_split_scores_test_pairs_of_tfs_never_trained_on(tmp_path):
    from gridapp.jobs.bench import split_parts

    root = str(shared("beeline"))
    parts = split_parts(root, "mDC-500-Specific", "tf-aware")
    assert not set(parts["Train"]["TF"]) & set(parts["Test"]["TF"])
    provided, aware = split_parts(root, "mDC-500-STRING", "test"), split_parts(root, "mDC-500-STRING", "tf-aware")
    assert abs(len(aware["Train"]) - len(provided["Train"])) < 0.05 * len(provided["Train"])  # trains on as many
    assert aware["Train"]["label"].mean() == provided["Train"]["label"].mean() == 0.5
    result = run_benchmark(BenchSpec(("pearson",), ("mDC-500-Specific",), split="tf-aware", root=root))
    assert set(result.scores["split"]) == {"tf-aware"}
    with pytest.raises(GridappError, match="held-out"):
        BenchSpec(("scgreat",), ("mDC-500-Specific",), split="full", root=root)


def test_a_second_benchmark_reads_its_networks_from_the_cache(tmp_path):
    spec = BenchSpec(("mi",), ("mDC-500-Specific",), root=str(shared("beeline")))
    first = run_benchmark(spec, cache_dir=tmp_path)
    stored = list((tmp_path / "bench").glob("*.parquet"))
    again = run_benchmark(spec, cache_dir=tmp_path)
    assert len(stored) == 1
    pd.testing.assert_frame_equal(first.scores, again.scores)  # seconds too: the network was not recomputed
    loaded = load_result(save_result(first, tmp_path / "saved"))
    pd.testing.assert_frame_equal(loaded.scores, first.scores)
    assert loaded.curves.keys() == first.curves.keys()
    for key, (roc, pr) in first.curves.items():
        pd.testing.assert_frame_equal(loaded.curves[key][0], roc)
        pd.testing.assert_frame_equal(loaded.curves[key][1], pr)


def test_sets_with_the_same_genes_and_tfs_share_one_network(tmp_path):
    """Non-Specific and STRING list the same genes and TFs in different orders: one network, two scores."""
    sets = ("mDC-500-Non-Specific", "mDC-500-STRING", "mDC-500-Specific")  # Specific lists two more TFs
    result = run_benchmark(BenchSpec(("pearson",), sets, root=str(shared("beeline"))), cache_dir=tmp_path)
    assert len(list((tmp_path / "bench").glob("*.parquet"))) == 2
    auroc = result.summary("auroc").loc["pearson"]
    assert auroc["mDC-500-Non-Specific"] != auroc["mDC-500-STRING"]  # same network, other ground truth


def test_all_on_a_split_means_the_sets_that_have_one():
    root = str(shared("beeline"))
    every = BenchSpec(("pearson",), ("all",), root=root).dataset_ids()
    split = BenchSpec(("pearson",), ("all",), split="test", root=root).dataset_ids()
    assert "mESC-500-Lofgof" in every and split == [i for i in every if i != "mESC-500-Lofgof"]
    named = BenchSpec(("pearson",), ("mESC-500-Lofgof",), split="test", root=root)
    with pytest.raises(GridappError, match="no train/test split"):
        run_benchmark(named)


def test_bad_specs_are_refused_before_any_work(tmp_path):
    root = str(shared("beeline"))
    with pytest.raises(GridappError, match="Unknown method"):
        BenchSpec(("nope",), ("all",), root=root)
    with pytest.raises(GridappError, match="Unknown split"):
        BenchSpec(("pearson",), ("all",), split="train", root=root)
    with pytest.raises(GridappError, match="No BEELINE data"):
        BenchSpec(("pearson",), ("all",), root=str(tmp_path))


def test_cli_writes_scores_curves_and_methods_and_explains_bad_ids(tmp_path, capsys):
    root = str(shared("beeline"))
    out = tmp_path / "bench"
    args = ["bench", "--methods", "pearson,mi", "--datasets", "mESC-500-Lofgof", "--beeline-root", root]
    assert main([*args, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "auprc_ratio" in printed and "mESC-500-Lofgof" in printed
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["method"]) == {"pearson", "mi"} and (out / "curves_mESC-500-Lofgof.html").is_file()
    assert "Pratapa" in (out / "methods.csv").read_text()
    assert (
        main([*args[:3], "--datasets", "hESC-500-Specific", "--beeline-root", root, "--out", str(tmp_path / "x")]) == 2
    )
    assert "no expression matrix for hESC" in capsys.readouterr().err


def test_supervised_models_train_as_dask_tasks_with_their_cpu_time(tmp_path, client):
    pytest.importorskip("torch")
    spec = BenchSpec(("scgreat", "pearson"), ("mHSC-GM-500-STRING",), split="test", root=str(shared("beeline")))
    result = run_benchmark(spec, client=client, cache_dir=tmp_path)
    assert len(list((tmp_path / "bench").glob("*.parquet"))) == 2  # the training is stored before the run returns
    assert not list((tmp_path / "bench").glob("*.checkpoint*"))  # and its checkpoint is gone
    cpu = result.scores.groupby("method")["cpu_seconds"].first()
    assert cpu["scgreat"] > 0 and pd.isna(cpu["pearson"])  # only a one-thread training is timed on the CPU
    auroc = result.summary("auroc")["mHSC-GM-500-STRING"]
    assert auroc["scgreat"] > 0.6, auroc  # mHSC-GM's STRING links are easy: every method ranks them well
    again = run_benchmark(spec, client=client, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again.scores, result.scores)  # trained once, read back from the store


def test_a_training_is_stored_when_it_ends_before_the_benchmark_collects_it(tmp_path, client):
    pytest.importorskip("torch")
    from distributed import wait

    from gridapp.jobs.bench import _start_trainings, split_parts

    spec = BenchSpec(("scgreat",), ("mHSC-GM-500-STRING",), split="test", root=str(shared("beeline")))
    inputs = {
        "mHSC-GM-500-STRING": (
            read_beeline(spec.root, "mHSC-GM-500-STRING"),
            split_parts(spec.root, "mHSC-GM-500-STRING", "test"),
        )
    }
    paths = {("scgreat", "mHSC-GM-500-STRING", 0): tmp_path / "network.parquet"}
    started = _start_trainings(inputs, [("scgreat", 0)], client, paths)
    wait(list(started.values()))
    for _ in range(100):  # the callback stores it from the client's thread
        if list(tmp_path.glob("*.parquet")):
            break
        time.sleep(0.1)
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    assert _start_trainings(inputs, [("scgreat", 0)], client, paths) == {}  # nothing left to train
