"""Job slots: at most N jobs compute at once; the others wait (told once, cancellable); a dead holder's slot frees."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from gridapp.core.errors import Cancelled, GridappError
from gridapp.jobs.runner import JobDoor, job_slot


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
