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


def test_requests_arriving_while_a_fork_waits_are_held_until_it_is_done():
    gate = ForkGate().install()
    events, codes, released = [], [], threading.Event()

    def request(name: str, until: threading.Event | None = None) -> None:
        gate.enter()
        events.append(f"{name} in")
        if until is not None:
            until.wait(10)
        gate.leave()

    def launch() -> None:
        gate.enter()
        try:
            pid = os.fork()
            if pid == 0:  # the child's copy of events tells what had happened at the fork
                os._exit(0 if events == ["first in"] else 1)
        finally:
            gate.leave()
        codes.append(_child_exit_code(pid))

    first = threading.Thread(target=request, args=("first", released))
    first.start()
    while "first in" not in events:
        threading.Event().wait(0.01)
    launcher = threading.Thread(target=launch)
    launcher.start()
    while not gate.forking:  # the fork now waits for the first request
        threading.Event().wait(0.01)
    late = threading.Thread(target=request, args=("late",))
    late.start()
    late.join(0.3)
    assert late.is_alive() and "late in" not in events  # held back while the fork is pending
    released.set()
    for thread in (first, launcher, late):
        thread.join(10)
    assert codes == [0] and events == ["first in", "late in"] and gate.active == 0 and not gate.forking


def test_a_fork_waits_for_unforkable_work_to_end_while_requests_go_on():
    gate = ForkGate().install()
    compiler = threading.Lock()  # stands for numba's compiler lock, held while the server's warm-up compiles
    compiling, finish, codes = threading.Event(), threading.Event(), []

    def warm_up() -> None:
        with gate.no_fork_during(), compiler:
            compiling.set()
            finish.wait(10)

    def launch() -> None:
        gate.enter()
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(0 if compiler.acquire(blocking=False) else 1)
        finally:
            gate.leave()
        codes.append(_child_exit_code(pid))

    threading.Thread(target=warm_up).start()
    compiling.wait(5)
    launcher = threading.Thread(target=launch)
    launcher.start()
    launcher.join(0.3)
    request = threading.Thread(target=lambda: (gate.enter(), gate.leave()))
    request.start()
    request.join(5)
    assert launcher.is_alive() and not codes  # the fork waits for the compilation ...
    assert not request.is_alive() and not gate.forking  # ... while other requests are answered
    finish.set()
    launcher.join(10)
    assert codes == [0] and gate.active == 0


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
