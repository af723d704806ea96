"""Starting real services (Redis, Celery, Dask, the dashboard) as processes for the tests that need them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the Celery worker command that docs/deployment.md and compose.yaml give (tests/app/test_deploy.py checks they do)
CELERY_WORKER = ("celery", "-A", "app:celery_app", "worker")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 300, process: subprocess.Popen | None = None) -> None:
    """Return once ``url`` answers (any status); fail after ``timeout`` seconds, or at once if the
    ``process`` meant to serve it has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server for {url} exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def wait_for_pool(url: str, timeout: float = 300) -> float:
    """Seconds until the server at ``url`` reports its worker pool ready on ``/healthz`` (at once when it has
    none); fails if the pool went down or is still starting after ``timeout`` seconds."""
    started = time.monotonic()
    while True:
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as reply:
            state = json.loads(reply.read()).get("worker_pool", "ready")
        if state == "ready":
            return time.monotonic() - started
        if state != "starting" or time.monotonic() - started > timeout:
            raise AssertionError(f"the worker pool of {url} is {state} after {time.monotonic() - started:.0f} s")
        time.sleep(0.5)


@contextmanager
def running(
    command: Sequence[str], env: dict[str, str] | None = None, log: Path | None = None, *, pythonpath: bool = True
) -> Iterator:
    """Run ``command`` from the repository root for the duration of the block, then stop it.

    With ``pythonpath`` the repository root is put on ``PYTHONPATH``; without it (and without any
    ``PYTHONPATH`` of this process) the command imports gridapp only as the environment installed it, as a
    deployed service does.
    """
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not pythonpath:
        del environment["PYTHONPATH"]
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env=environment,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()
