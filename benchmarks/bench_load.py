"""Load test: the dashboard under gunicorn on loopback, many people browsing while jobs run.

One result is computed into a fresh cache first (the demo's monocytes + B cells). Then gunicorn
serves ``app:server`` with the image's settings (2 workers × 4 threads), and at once:

- ``--browsers`` sessions browse that result as the page does: each request is one Dash callback
  (the network view with a new importance threshold, or a regulon click that redraws the network
  and the embedding), one interaction after another with a pause of ``--think`` seconds on average
  (uniform between 0 and twice that; 0 sends them back to back, a stress test), at most
  ``--max-requests`` each;
- ``--launchers`` sessions each launch a different job (seeds 1, 2, ...) at the start and poll it
  the way the page does, once a second, until it is done.

Browsing goes on until the last job has ended (or ``--seconds``). Every request is timed; browsing
latencies give the percentiles. Last line: ``sessions=N requests=N errors=E p50_ms=X p95_ms=Y``
(errors: non-200 replies, failed jobs, exceptions). Target: no errors, p95 of browsing < 500 ms while the jobs run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from gridapp.jobs.cache import ResultCache
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
UPDATE = "/_dash-update-component"
CONFIG = r'<script id="_dash-config" type="application/json">(.*?)</script>'
#: gunicorn's access log: time, request line, status, seconds taken, worker pid
ACCESS_LOG = '%(t)s "%(r)s" %(s)s %(L)s pid=%(p)s'
PARAMS = RunParams.demo(cell_types=("B cells", "CD14+ Monocytes"), n_top_genes=300)


class Page:
    """One browser tab: the page's signed end id and the callback graph, posted to like the renderer does."""

    def __init__(self, url: str) -> None:
        self.url, self.http = url, requests.Session()
        html = self.http.get(url, timeout=60).text
        config = json.loads(re.search(CONFIG, html).group(1))
        self.end_id = config["end_id"]
        self.graph = self.http.get(url + "/_dash-dependencies", timeout=60).json()

    def callback(self, output_part: str) -> dict:
        return next(spec for spec in self.graph if output_part in spec["output"])

    def body(self, spec: dict, values: dict, changed: str) -> dict:
        """The request the renderer sends for callback ``spec`` with inputs / states from ``values``."""
        outputs = [
            {"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
            for part in spec["output"].strip(".").split("...")
        ]
        fill = lambda items: [{**item, "value": values.get(item["id"])} for item in items]  # noqa: E731
        return {
            "output": spec["output"],
            "outputs": outputs if spec["output"].startswith("..") else outputs[0],
            "inputs": fill(spec["inputs"]),
            "state": fill(spec["state"]),
            "changedPropIds": [changed],
        }

    def post(self, body: dict, **handles: str) -> requests.Response:
        return self.http.post(self.url + UPDATE, params={"endId": self.end_id, **handles}, json=body, timeout=120)


class Tally:
    """Latencies and errors from all sessions."""

    def __init__(self) -> None:
        self.lock, self.browsing_ms, self.requests, self.errors = threading.Lock(), [], 0, []
        self.jobs_running, self.job_seconds = 0, []

    def add(self, ms: float | None = None, error: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            if ms is not None:
                self.browsing_ms.append(ms)
            if error:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {error}")


def browse(
    url: str, key: str, regulons: list[str], until: float, cap: int, think: float, tally: Tally, seed: int
) -> None:
    """Move the threshold and click regulons, pausing ``think`` seconds on average between interactions,
    while jobs run (at most until ``until``, at most ``cap`` requests)."""
    rng = random.Random(seed)
    page = Page(url)
    network, cells = page.callback("importance-hist.figure"), page.callback("embedding.figure")
    values = {"result-key": key, "threshold": 0.0, "hops": 1, "occurrence": 0, "embedding-kind": "umap"}
    for _ in range(cap):
        time.sleep(rng.uniform(0, 2 * think))
        if time.monotonic() > until or tally.jobs_running == 0:
            return
        if rng.random() < 0.5:
            values["threshold"] = round(rng.uniform(-1.5, 0.5), 2)
            requests_ = [page.body(network, values, "threshold.value")]
        else:
            values["regulon"] = rng.choice(regulons)
            requests_ = [page.body(network, values, "regulon.value"), page.body(cells, values, "regulon.value")]
        for body in requests_:
            started = time.perf_counter()
            try:
                reply = page.post(body)
                ms = (time.perf_counter() - started) * 1000
                tally.add(ms, None if reply.status_code == 200 else f"browse: HTTP {reply.status_code}")
            except requests.RequestException as err:
                tally.add(error=f"browse: {err}")


def launch(url: str, seed: int, until: float, tally: Tally) -> None:
    """Launch one run (its own seed, so it really computes) and poll it once a second until it ends."""
    try:
        _launch_and_poll(url, seed, until, tally)
    finally:
        with tally.lock:
            tally.jobs_running -= 1


def _launch_and_poll(url: str, seed: int, until: float, tally: Tally) -> None:
    page = Page(url)
    spec = page.callback("result-key.data...status.children")
    form = {
        "input": PARAMS.input,
        "tfs": PARAMS.tfs,
        "cell-type-key": "cluster_id",
        "cell-types": list(PARAMS.cell_types),
        "method": "grnboost2-fast",
        "seed": seed,
        "runs": 1,
        "n-top-genes": 300,
        "prune": "prior",
        "prior": PARAMS.prior,
        "launch": 1,
    }
    body = page.body(spec, form, "launch.n_clicks")
    started = time.monotonic()
    try:
        reply = page.post(body)
        tally.add(error=None if reply.status_code == 200 else f"launch: HTTP {reply.status_code}")
        handles = {name: reply.json()[name] for name in ("cacheKey", "job")}
        while time.monotonic() < until:
            time.sleep(1)
            reply = page.post(body, **handles)
            tally.add(error=None if reply.status_code in (200, 204) else f"poll: HTTP {reply.status_code}")
            if reply.status_code == 200 and "response" in reply.json():
                status = json.dumps(reply.json()["response"])
                tally.add(error=None if "Done" in status else f"job {seed}: {status[:200]}")
                tally.job_seconds.append(time.monotonic() - started)
                return
        tally.add(error=f"job {seed}: not done within the test")
    except (requests.RequestException, KeyError, ValueError) as err:
        tally.add(error=f"job {seed}: {err!r}")


def cached_result(cache_dir: Path) -> tuple[str, list[str]]:
    """Compute (or reuse) the browsed result; return its key and regulon names."""
    cache = ResultCache(cache_dir / "results")
    key = cache.get_or_compute(PARAMS, lambda params: run(params, cache_dir=cache_dir))
    return key, list(cache.load(key).regulons["regulon"].unique())


def serve(cache_dir: Path, port: int) -> subprocess.Popen:
    """gunicorn with the image's command and settings, on loopback (its log, with an access line per
    request, in ``cache_dir/gunicorn.log``)."""
    env = {**os.environ, "GRIDAPP_CACHE_DIR": str(cache_dir), "GRIDAPP_DATA_ROOTS": str(ROOT / "data")}
    command = ["gunicorn", "app:server", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    options = ["--timeout", "300", "--keep-alive", "5", "--access-logfile", "-", "--access-logformat", ACCESS_LOG]
    log = open(cache_dir / "gunicorn.log", "wb")  # noqa: SIM115 (the server's lifetime)
    process = subprocess.Popen([*command, *options], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(1)
    process.kill()
    sys.exit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browsers", type=int, default=20)
    parser.add_argument("--launchers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=900, help="longest the test may last")
    parser.add_argument("--max-requests", type=int, default=2000, help="per browsing session")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a session's interactions (s)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    cache_dir = Path(tempfile.mkdtemp(prefix="gridapp-load-"))
    key, regulons = cached_result(cache_dir)
    server = serve(cache_dir, args.port)
    url, tally = f"http://127.0.0.1:{args.port}", Tally()
    tally.jobs_running = args.launchers
    until = time.monotonic() + args.seconds
    sessions = [
        threading.Thread(target=launch, args=(url, seed, until, tally)) for seed in range(1, args.launchers + 1)
    ] + [
        threading.Thread(target=browse, args=(url, key, regulons, until, args.max_requests, args.think, tally, seed))
        for seed in range(args.browsers)
    ]
    try:
        for session in sessions:
            session.start()
        for session in sessions:
            session.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    for error in tally.errors[:10]:
        print(f"error: {error}")
    if tally.errors:
        print(f"server log: {cache_dir / 'gunicorn.log'}")
    print(f"jobs done after (s from launch): {sorted(round(s) for s in tally.job_seconds)}")
    p50, p95 = np.percentile(tally.browsing_ms, [50, 95]) if tally.browsing_ms else (float("nan"),) * 2
    counts = f"sessions={len(sessions)} requests={tally.requests} errors={len(tally.errors)}"
    print(f"{counts} p50_ms={p50:.0f} p95_ms={p95:.0f} think_s={args.think:g}")


if __name__ == "__main__":
    main()
