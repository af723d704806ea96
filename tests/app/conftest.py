"""Every browser test (marked ``browser``) must leave its pages' consoles without a SEVERE entry and its server
without a 5xx response. A browser module says what to look at with a module-scoped ``watch`` fixture (a
``tests.app.browsing.Watch``); a browser module without one fails, so no new one goes unwatched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def clean_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each browser test, fail on what its consoles and server log reported during it."""
    if request.node.get_closest_marker("browser") is None:
        yield
        return
    watch = request.getfixturevalue("watch")
    yield
    watch.check()
