"""Many users on one server: jobs on a real Celery worker over a real Redis (Debian's ``redis-server``),
driven from two headless Chromium sessions."""

from __future__ import annotations

import shutil
import signal
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from gridapp.jobs.cache import ResultCache
from tests.app.browsing import ROOT, By, Watch, chromium, dashboard, free_port, running
from tests.app.browsing import choose as _choose
from tests.app.browsing import launch_and_wait as _launch_and_wait
from tests.app.browsing import text as _text
from tests.app.browsing import type_into as _type
from tests.app.browsing import wait as _wait
from tests.processes import CELERY_WORKER

pytestmark = [pytest.mark.browser, pytest.mark.slow]
pytest.importorskip("celery", reason="the job queue needs celery[redis] (requirements.txt)")
REDIS = shutil.which("redis-server")


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]  # the settings the worker and every dashboard share
    folder: Path  # cache and logs
    worker_pid: int


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Redis, one Celery worker (2 processes) and the settings the dashboards share with it."""
    if REDIS is None:
        pytest.skip("needs Debian's redis-server (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("celery")
    port = free_port()
    env = {
        "GRIDAPP_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "GRIDAPP_CACHE_DIR": str(folder / "cache"),
        "GRIDAPP_DATA_ROOTS": str(ROOT / "data"),
    }
    redis = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    # The documented command, with the environment's `celery` script and no PYTHONPATH: the jobs' spawned
    # Dask workers find gridapp only if the environment installed it (requirements.txt's `-e .`).
    worker = [str(Path(sys.executable).parent / CELERY_WORKER[0]), *CELERY_WORKER[1:], "--concurrency", "2"]
    with (
        running(redis, log=folder / "redis.log"),
        running(worker, env, folder / "worker.log", pythonpath=False) as celery,
    ):
        yield Stack(env, folder, celery.pid)


@pytest.fixture(scope="module")
def site(stack):
    with dashboard(env=stack.env, log=stack.folder / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("a")) as first, chromium(tmp_path_factory.mktemp("b")) as second:
        yield first, second


@pytest.fixture(scope="module")
def watch(stack, site, users) -> Watch:
    """What each test here must leave clean: both browsers' consoles and the dashboard's log (tests/app/conftest.py)."""
    return Watch(users, stack.folder / "app.log")


def _cache(stack) -> ResultCache:
    return ResultCache(Path(stack.env["GRIDAPP_CACHE_DIR"]) / "results")


def _fill_form(driver, url: str, n_top_genes: str, runs: str = "1") -> None:
    driver.get(url)
    _wait(driver, lambda d: "1,045 of 1,045 cells" in _text(d, "cell-count"))
    _choose(driver, "cell-types", "B cells", "CD14+ Monocytes")
    _type(driver, "n-top-genes", n_top_genes)
    _type(driver, "runs", runs)


def test_two_users_launching_the_same_run_get_it_from_one_computation(stack, site, users):
    for driver in users:
        _fill_form(driver, site, "150")
    for driver in users:
        driver.find_element(By.ID, "launch").click()
    _wait(users[0], lambda d: _text(d, "status").startswith("step"), 120)  # progress travels through Redis
    for driver in users:
        status = _wait(
            driver, lambda d: _text(d, "status").startswith(("Done", "Run failed")) and _text(d, "status"), 400
        )
        assert status.startswith("Done"), status
        _wait(driver, lambda d: "edges kept" in _text(d, "edge-count"))
    computed = _cache(stack).computations()
    assert len(computed) == 1, computed


def test_cancel_on_the_queue_stores_nothing(stack, site, users):
    driver, _ = users
    stored = _cache(stack).runs()
    _fill_form(driver, site, "140", runs="30")  # 30 seeds: the run cannot end before the click on Cancel
    driver.find_element(By.ID, "launch").click()
    _wait(driver, lambda d: _text(d, "status").startswith("step"), 120)
    driver.find_element(By.ID, "cancel").click()
    _wait(driver, lambda d: d.find_element(By.ID, "launch").is_enabled(), 60)
    assert _text(driver, "status").startswith("Cancelled")
    assert _cache(stack).runs() == stored


def test_a_job_whose_worker_dies_is_reported_failed_and_a_relaunch_succeeds(stack, site, users):
    driver, _ = users
    cache = _cache(stack)
    stored = {run.key for run in cache.runs()}
    _fill_form(driver, site, "130", runs="30")
    driver.find_element(By.ID, "launch").click()
    _wait(driver, lambda d: _text(d, "status").startswith("step"), 120)
    for process in psutil.Process(stack.worker_pid).children():  # the pool processes, job included
        process.send_signal(signal.SIGKILL)
    status = _wait(driver, lambda d: _text(d, "status").startswith("Failed") and _text(d, "status"), 120)
    assert "earlier results are unchanged" in status
    assert {run.key for run in cache.runs()} == stored and not list(cache.root.glob(".*.partial-*"))
    _type(driver, "runs", "1")
    status = _launch_and_wait(driver, 400)
    assert status.startswith("Done"), status


def test_results_are_listed_again_after_the_dashboard_restarts(stack):
    keys = {run.key for run in _cache(stack).runs()}
    assert len(keys) == 2  # the shared run and the relaunch after the lost job
    with dashboard(env=stack.env, log=stack.folder / "restarted.log") as url:
        layout = urllib.request.urlopen(url + "/_dash-layout", timeout=30).read().decode()
    assert all(key in layout for key in keys)  # the "Cached runs" menu of every new page lists them
