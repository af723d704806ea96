"""The embedded demo's result, computed once in the background when a server first starts on an empty cache,
so that its first page opens on a result instead of empty axes.

Run as ``python -m gridapp.jobs.demo CACHE_ROOT PARAMS_JSON [MAX_JOBS]`` by :func:`start_demo`: its own
process (never a thread of the server, which forks its jobs), through the server's job door.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.runner import JOB_NICENESS, JobDoor, launch


def start_demo(cache: ResultCache, params: RunParams, max_jobs: int | None = None) -> subprocess.Popen | None:
    """Compute ``params``' result into ``cache`` in a process of its own, unless the cache holds a result
    already (or this one is being computed). Returns the process, or ``None`` when there is nothing to do."""
    if cache.runs() or cache.state(cache.key(params)) != "idle":
        return None
    arguments = [sys.executable, "-m", __name__, str(cache.root), json.dumps(params.to_dict())]
    return subprocess.Popen([*arguments, *([str(max_jobs)] if max_jobs else [])], stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> None:
    """Compute one result (``argv``: cache root, parameters as JSON, optionally the server's job slots)."""
    root, params = Path(argv[0]), RunParams.from_dict(json.loads(argv[1]))
    door = JobDoor(slots=root / ".slots", max_jobs=int(argv[2]) if len(argv) > 2 else None, niceness=JOB_NICENESS)
    launch(params, ResultCache(root), door)


if __name__ == "__main__":
    main(sys.argv[1:])
