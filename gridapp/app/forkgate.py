"""Fork the dashboard's background jobs only while no other request is half-way through a read.

Dash starts each background job in a ``fork()`` of the server while its other request threads keep
reading h5ad files and running numba kernels. The child inherits every lock as it was at that moment
but none of the threads holding them: a fork that lands while another thread is inside a lazy
attribute of anndata's sparse reader (Python 3.11's ``functools.cached_property`` holds one lock per
attribute, shared by all instances) leaves the job hanging at its first read of the same file
("step 1/9: load" for ever). :class:`ForkGate` counts the requests in progress (as WSGI middleware)
and makes ``fork()`` wait until the forking request is the only one; requests arriving meanwhile wait
for the fork, so that a stream of overlapping requests cannot starve a launch. Work that no fork may land
in at all (the server's warm-up compiling kernels under numba's compiler lock) makes a fork wait for its end
however long it takes, while requests keep being answered meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)
#: the longest a fork waits for the requests in progress to end
FORK_WAIT_S = 30.0


class ForkGate:
    """Requests in progress, and a ``fork()`` hook that waits until the caller's is the only one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._active = 0
        self._forking = 0
        self._unforkable = 0
        self._local = threading.local()
        self._installed = False

    @property
    def active(self) -> int:
        """Requests in progress in this process."""
        return self._active

    @property
    def forking(self) -> bool:
        """Whether a fork is waiting for the requests in progress to end (new ones wait meanwhile)."""
        return self._forking > 0

    def _depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def enter(self) -> None:
        """Count the calling thread's request as in progress (new requests wait while a fork is pending)."""
        with self._condition:
            if not self._depth():
                self._condition.wait_for(lambda: not self._forking)
            self._active += 1
            self._local.depth = self._depth() + 1

    def leave(self) -> None:
        """The calling thread's request has ended."""
        with self._condition:
            self._active -= 1
            self._local.depth = self._depth() - 1
            self._condition.notify_all()

    @contextmanager
    def no_fork_during(self) -> Iterator[None]:
        """Run the block with every fork waiting for its end (requests are not held back meanwhile)."""
        with self._condition:
            self._unforkable += 1
        try:
            yield
        finally:
            with self._condition:
                self._unforkable -= 1
                self._condition.notify_all()

    def before_fork(self) -> None:
        """Wait for the end of any :meth:`no_fork_during` block, then until no other thread is in a request (at
        most :data:`FORK_WAIT_S`: a request stuck on a slow disk must not freeze the server), holding new ones
        back until the fork is done."""
        self._condition.acquire()
        self._condition.wait_for(lambda: not self._unforkable)
        self._forking += 1
        self._active -= self._depth()
        if not self._condition.wait_for(lambda: self._active == 0, timeout=FORK_WAIT_S):
            logger.warning("forking a job while %d request(s) are still in progress", self._active)

    def after_fork_in_parent(self) -> None:
        """Let requests in again."""
        self._active += self._depth()
        self._forking -= 1
        self._condition.notify_all()
        self._condition.release()

    def after_fork_in_child(self) -> None:
        """The child has one thread, the forking one: only its own requests are in progress."""
        self._condition = threading.Condition()
        self._active, self._forking, self._unforkable = self._depth(), 0, 0

    def install(self) -> ForkGate:
        """Register the gate's hooks with ``os.register_at_fork`` (the first call only: hooks are for ever)."""
        if not self._installed:
            os.register_at_fork(
                before=self.before_fork,
                after_in_parent=self.after_fork_in_parent,
                after_in_child=self.after_fork_in_child,
            )
            self._installed = True
        return self

    def middleware(self, app: Callable) -> Callable:
        """Wrap a WSGI application so that each of its requests counts as in progress until it returns."""

        def gated(environ: dict, start_response: Callable) -> Iterable[bytes]:
            self.enter()
            try:
                return app(environ, start_response)
            finally:
                self.leave()

        return gated


#: The dashboard's gate: every app of this process counts its requests here.
GATE = ForkGate()
