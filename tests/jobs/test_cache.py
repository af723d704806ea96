"""The content-addressed result store: compute once, atomic entries, reload as stored."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from gridapp.core.atomic import leftovers
from gridapp.core.errors import GridappError
from gridapp.jobs.cache import ResultCache
from tests.conftest import DEMO_SUBSET as PARAMS


@pytest.fixture
def result(demo_subset):
    """The session's run of ``PARAMS``: what each test's compute function returns."""
    return demo_subset[0]


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_identical_launches_compute_once(tmp_path, result):
    cache = ResultCache(tmp_path)
    calls = []

    def compute(params):
        calls.append(params)
        time.sleep(0.5)  # the second launch arrives while the first computes
        return result

    keys = []
    threads = [threading.Thread(target=lambda: keys.append(cache.get_or_compute(PARAMS, compute))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and keys[0] == keys[1] and keys[0] in cache
    assert cache.get_or_compute(PARAMS, compute) == keys[0] and len(calls) == 1


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_failed_compute_leaves_no_entry_and_releases_the_key(tmp_path, result):
    cache = ResultCache(tmp_path)

    def broken(params):
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        cache.get_or_compute(PARAMS, broken)
    assert cache.runs() == [] and not any(p.is_dir() for p in tmp_path.iterdir())
    assert cache.get_or_compute(PARAMS, lambda params: result) in cache


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_stored_result_reads_back_with_its_parameters(tmp_path, result):
    cache = ResultCache(tmp_path)
    key = cache.get_or_compute(PARAMS, lambda params: result)
    stored = cache.load(key)
    assert stored.adjacencies.equals(result.adjacencies)
    assert list(stored.adata.obsm["X_aucell"].columns) == [r.name for r in result.regulons]
    [listed] = cache.runs()
    assert listed.key == key and listed.params["cell_types"] == ["B cells", "CD14+ Monocytes"]
    assert listed.summary["counts"]["regulons"] == len(result.regulons)
    assert {r.name for r in stored.regulons} == {r.name for r in result.regulons}
    pd.testing.assert_frame_equal(stored.regulon_targets, result.regulon_targets)  # the file read = derived
    with pytest.raises(ValueError, match="not a cache key"):
        cache.path("../etc")


def _compute_until_killed(root: str) -> None:
    """A job process that takes the key's lock and never finishes (killed by the test)."""
    ResultCache(root).get_or_compute(PARAMS, lambda params: time.sleep(3600))


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_state_follows_a_job_from_idle_to_running_to_done_and_logs_one_computation(tmp_path, result):
    cache = ResultCache(tmp_path)
    key = cache.key(PARAMS)
    release = threading.Event()

    def compute(params):
        release.wait(30)
        return result

    assert cache.state(key) == "idle"
    job = threading.Thread(target=cache.get_or_compute, args=(PARAMS, compute))
    job.start()
    deadline = time.monotonic() + 30
    while cache.state(key) != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.state(key) == "running"
    release.set()
    job.join()
    assert cache.state(key) == "done"
    log = cache.computations()
    assert list(log["key"]) == [key] and log["seconds"].iloc[0] >= 0


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_a_killed_job_releases_its_key_and_a_relaunch_clears_its_leftovers(tmp_path, result):
    cache = ResultCache(tmp_path)
    key = cache.key(PARAMS)
    job = multiprocessing.get_context("spawn").Process(target=_compute_until_killed, args=(str(tmp_path),))
    job.start()
    deadline = time.monotonic() + 120
    while cache.state(key) != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cache.state(key) == "running"
    (tmp_path / f".{key}.partial-{'0' * 12}").mkdir()  # as if it had died while storing
    os.kill(job.pid, signal.SIGKILL)
    job.join()
    assert cache.state(key) == "idle" and cache.runs() == []
    assert cache.get_or_compute(PARAMS, lambda params: result) == key
    assert cache.state(key) == "done" and not leftovers(cache.path(key))


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_a_result_computed_while_its_input_was_replaced_is_not_stored(tmp_path, result):
    data = tmp_path / "data.h5ad"
    data.write_bytes(Path(PARAMS.input).read_bytes())
    params = PARAMS.with_changes(input=str(data))
    cache = ResultCache(tmp_path / "cache")

    def compute_while_replaced(_):
        replacement = tmp_path / "other.h5ad"
        replacement.write_bytes(data.read_bytes() + b"\0")  # another user's bytes under the same name
        os.replace(replacement, data)
        return result

    with pytest.raises(GridappError, match="changed while the job ran"):
        cache.get_or_compute(params, compute_while_replaced)
    assert cache.runs() == []


@pytest.mark.parametrize("hostile", ["../../../../tmp/x", "", None, {"a": 1}, "A" * 32, "0" * 31])
def test_hostile_keys_are_not_results_and_create_no_file(tmp_path, hostile):
    cache = ResultCache(tmp_path / "cache")
    assert hostile not in cache and cache.state(hostile) == "idle"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.slow  # its `result` fixture runs a whole pipeline
def test_an_entry_written_by_an_earlier_version_still_opens(tmp_path, result):
    cache = ResultCache(tmp_path)
    key = cache.get_or_compute(PARAMS, lambda params: result)
    folder = cache.path(key)
    (folder / "regulon_targets.csv").rename(folder / "regulons.csv")  # the name earlier versions gave the table
    assert {r.name for r in cache.load(key).regulons} == {r.name for r in result.regulons}
