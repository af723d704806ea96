"""Job slots: at most N jobs compute at once; the others wait (told once, cancellable); a dead holder's slot frees.
A waiting job re-tells what it waits for every second, and says nothing once through the door."""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable

import pytest

from gridapp.core.errors import Cancelled, GridappError
from gridapp.jobs.runner import JobDoor, job_slot, status_line, ticking


def _hold_slot_for_ever(folder, ready) -> None:
    with job_slot(folder, 1):
        ready.set()
        time.sleep(3600)


def test_a_second_job_waits_for_the_slot_and_is_told_once(tmp_path):
    order, told = [], []
    first_in = threading.Event()

    def first() -> None:
        with job_slot(tmp_path, 1):
            first_in.set()
            time.sleep(0.5)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with job_slot(tmp_path, 1, waiting=lambda: told.append(1), poll_seconds=0.05) as slot:
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"] and told == [1] and slot == 0
    with job_slot(tmp_path, 2) as one, job_slot(tmp_path, 2) as other:  # two slots: both at once
        assert {one, other} == {0, 1}


def test_waiting_is_cancellable_and_a_killed_holder_frees_its_slot(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_slot_for_ever, args=(tmp_path, ready))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(Cancelled, match="waiting for a job slot"), job_slot(tmp_path, 1, cancelled=lambda: True):
            pass
    finally:
        holder.kill()
        holder.join()
    with job_slot(tmp_path, 1, cancelled=lambda: True) as slot:  # free again: entered without waiting
        assert slot == 0


def test_the_door_stops_a_job_past_its_time_limit(client):
    door = JobDoor(max_seconds=1.0, dask_scheduler=client.scheduler.address)
    with pytest.raises(GridappError, match="limit and was stopped"), door.enter():
        time.sleep(30)  # not stopped, it would end without an error
    with JobDoor(dask_scheduler=client.scheduler.address).enter():  # the first job's timer went with it
        time.sleep(1.5)


def _niceness_in_the_door(address, out) -> None:
    with JobDoor(niceness=7, dask_scheduler=address).enter():
        out.put(os.getpriority(os.PRIO_PROCESS, 0))


def test_the_door_lowers_the_job_s_cpu_priority(client):
    out = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_niceness_in_the_door, args=(client.scheduler.address, out)
    )
    process.start()
    assert out.get(timeout=120) >= 7
    process.join(30)


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Wait for ``condition`` (polled), failing the test when it does not hold within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_a_ticker_tells_at_once_then_with_the_seconds_taken_and_nothing_once_stopped():
    told = []
    with ticking(told.append, every=0.05) as ticker:
        time.sleep(0.2)
        assert told == []  # nothing to tell before a note
        ticker.say("starting workers")
        assert told == ["starting workers"]  # at once, not at the next tick
        _until(lambda: len(told) >= 3)
    stopped = list(told)
    time.sleep(0.3)
    assert told == stopped
    assert all(re.fullmatch(r"starting workers \(\d+ s\)", note) for note in stopped[1:])


def test_a_new_note_replaces_the_old_one_and_an_error_stops_the_ticker():
    told = []
    with pytest.raises(RuntimeError), ticking(told.append, every=0.05) as ticker:
        ticker.say("preparing")
        _until(lambda: len(told) >= 2)
        ticker.say("starting workers")
        _until(lambda: len(told) >= told.index("starting workers") + 3)
        raise RuntimeError("the work failed")
    stopped = list(told)
    time.sleep(0.3)
    assert told == stopped
    switched = stopped.index("starting workers")
    assert all(note.startswith("preparing") for note in stopped[:switched])
    assert all(note.startswith("starting workers") for note in stopped[switched:])


def test_the_door_re_tells_each_wait_and_is_silent_once_through(tmp_path, client):
    told, released = [], threading.Event()
    held = threading.Event()

    def hold_the_only_slot() -> None:
        with job_slot(tmp_path, 1):
            held.set()
            _until(lambda: len(told) >= 2)  # the waiting job told its wait, then re-told it
            released.set()

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    assert held.wait(30)
    door = JobDoor(slots=tmp_path, max_jobs=1, dask_scheduler=client.scheduler.address)
    with door.enter(tell=told.append):
        through = list(told)
        time.sleep(1.5)  # longer than a tick: a ticker still running would report
        assert told == through
    holder.join()
    assert released.is_set() and told == through
    assert through[0] == "waiting for one of 1 job slots"
    assert re.fullmatch(r"waiting for one of 1 job slots \(\d+ s\)", through[1])
    starting = through[through.index("starting workers") + 1 :]
    assert all(re.fullmatch(r"starting workers \(\d+ s\)", note) for note in starting)


def test_a_note_reads_as_a_status_line():
    assert status_line("starting workers (3 s)") == "Starting workers (3 s) …"
