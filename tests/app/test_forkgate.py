"""The fork gate: a background job is forked only while no other request is half-way through its work."""

from __future__ import annotations

import os
import threading

import pytest

from gridapp.app.forkgate import ForkGate

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")


def _child_exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_fork_from_a_request_waits_until_the_other_requests_release_their_locks():
    gate = ForkGate().install()
    held = threading.Lock()  # stands for a library lock another request holds mid-read
    holding, forking = threading.Event(), threading.Event()

    def other_request():
        gate.enter()
        try:
            with held:
                holding.set()
                forking.wait(5)
        finally:
            gate.leave()

    thread = threading.Thread(target=other_request)
    thread.start()
    holding.wait(5)
    gate.enter()  # the forking request itself must not wait for itself
    try:
        threading.Timer(0.2, forking.set).start()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if held.acquire(blocking=False) and gate.active == 1 else 1)
        assert gate.active == 1  # the other request ended before the fork; this one is back in the count
    finally:
        gate.leave()
    thread.join()
    assert _child_exit_code(pid) == 0
    assert gate.active == 0


def test_the_middleware_counts_a_request_while_it_runs_and_after_it_fails():
    gate = ForkGate()
    seen = []

    def app(environ, start_response):
        seen.append(gate.active)
        if environ.get("fail"):
            raise RuntimeError("broken request")
        return [b"ok"]

    gated = gate.middleware(app)
    assert gated({}, None) == [b"ok"]
    with pytest.raises(RuntimeError, match="broken request"):
        gated({"fail": True}, None)
    assert seen == [1, 1]
    assert gate.active == 0
