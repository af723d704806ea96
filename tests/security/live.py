"""A live dashboard to attack: its process, raw ``/_dash-update-component`` POSTs, and watchers of its memory,
CPU and ``/healthz`` latency while an attack runs.

Nothing here imports gridapp: the server under attack may be another checkout (``GRIDAPP_SECURITY_CHECKOUT``)
than the one the tests are read from, so everything goes through HTTP, the file system and ``/proc``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import requests

from tests.processes import ROOT, free_port, wait_for_http, wait_for_pool

#: the checkout whose app.py is attacked (default: the one these tests belong to)
CHECKOUT = Path(os.environ.get("GRIDAPP_SECURITY_CHECKOUT") or ROOT).resolve()
#: what the secret file outside the data root holds; none of it may ever reach a client
SECRET_TEXT = "API_KEY=sk-live-DEADBEEF,owner\n1,2\n"
SECRETS = ("sk-live-DEADBEEF", "API_KEY")
#: signs of a server-side traceback in a reply
TRACEBACK_SIGNS = ("Traceback", 'File "')
HEALTH_LIMIT_S = 2.0


# --------------------------------------------------------------------------------------------- the server


@dataclass
class Server:
    """A running ``python app.py`` of :data:`CHECKOUT` and the folders it was given."""

    url: str
    process: subprocess.Popen
    root: Path  # the data root
    outside: Path  # a folder outside every root, holding secret.csv
    cache: Path
    log: Path

    @property
    def secret(self) -> Path:
        return self.outside / "secret.csv"

    def alive(self) -> bool:
        return self.process.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The server process and every process below it (jobs forked from it, their Dask workers)."""
        try:
            top = psutil.Process(self.process.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.is_file() else []
        return "\n".join(lines[-n:])


@contextmanager
def serving(root: Path, outside: Path, cache: Path, log: Path, *args: str) -> Iterator[Server]:
    """Run ``app.py`` of :data:`CHECKOUT` (cwd and PYTHONPATH there, this interpreter) on a free port until the
    block ends, then stop it and every process it started.

    ``tests.processes.running`` always starts from this repository's root, hence this variant.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDAPP_")}
    env |= {"PYTHONPATH": str(CHECKOUT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "app.py", "--port", str(port), "--data-root", str(root), "--cache-dir", str(cache)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, *args], cwd=CHECKOUT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(f"http://127.0.0.1:{port}", process, root, outside, cache, log)
        try:
            wait_for_http(server.url + "/healthz", timeout=180, process=process)
            wait_for_pool(server.url)  # attacks are measured against a settled server, its pool's memory included
            yield server
        finally:
            stop(server)


def stop(server: Server) -> None:
    """SIGTERM the server and its descendants (known by pid), SIGKILL what is left after 20 s."""
    family = server.tree()
    for process in family:
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    _, left = psutil.wait_procs(family, timeout=20)
    for process in left:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    server.process.wait(timeout=30)


def end_jobs_started_after(server: Server, before: set[int]) -> list[int]:
    """Kill the server's descendants that were not there in ``before`` (pids): runaway jobs an attack started.
    Returns their pids."""
    ended = []
    for process in server.tree()[1:]:
        if process.pid not in before:
            try:
                process.kill()
                ended.append(process.pid)
            except psutil.NoSuchProcess:
                pass
    return ended


# ----------------------------------------------------------------------------------------- the Dash client


def id_key(component_id: str | dict) -> str:
    """A component id as Dash writes it in prop ids: the string, or a dict as sorted compact JSON."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return component_id


def split_prop(prop_id: str) -> tuple[str | dict, str]:
    """``'id.prop'`` (``prop`` may end in ``@hash``; ``id`` may be JSON) → (id, prop)."""
    component, prop = prop_id.rsplit(".", 1)
    return (json.loads(component) if component.startswith("{") else component), prop


def _outputs_of(output: str) -> list[tuple[str | dict, str]]:
    """The (id, prop) pairs of a dependency's ``output`` string (``..a.b...c.d..`` for several; a callback without
    outputs has a bare hash there)."""
    if "." not in output:
        return []
    if output.startswith(".."):
        return [split_prop(part) for part in output[2:-2].split("...")]
    return [split_prop(output)]


def _clean(prop: str) -> str:
    return prop.split("@", 1)[0]


def _output_ids(dependency: dict) -> set[str]:
    return {f"{id_key(c)}.{_clean(p)}" for c, p in _outputs_of(dependency["output"])}


@dataclass
class Reply:
    """What the server answered to one callback request (and, for a background callback, to its polls)."""

    status: int | None  # the last HTTP status; None when the request timed out
    bodies: list[str] = field(default_factory=list)  # every response body, first to last
    data: dict | None = None  # the final JSON answer (with ``response``), if any
    finished: bool = True  # False: a background job still running at the deadline, or a timed-out request
    seconds: float = 0.0
    statuses: list[int] = field(default_factory=list)

    def outputs(self) -> dict[str, Any]:
        """The final answer as ``{'id.prop': value}`` (``@hash`` suffixes dropped; no_update outputs absent)."""
        response = (self.data or {}).get("response") or {}
        return {f"{id_key(_maybe_json(c))}.{_clean(p)}": v for c, props in response.items() for p, v in props.items()}

    def text(self) -> str:
        """Every body, plus the decoded content of any base64 download or data URL in them."""
        return "\n".join([*self.bodies, *(_decoded(body) for body in self.bodies)])

    def progress_text(self) -> str:
        return "\n".join(str(json.loads(b).get("progress", "")) for b in self.bodies if b.startswith("{"))

    def summary(self) -> str:
        counts = {s: self.statuses.count(s) for s in sorted(set(self.statuses))}
        return f"HTTP {counts} after {self.seconds:.1f} s: " + " | ".join(b[:300] for b in self.bodies[-2:])


def _maybe_json(component: str) -> str | dict:
    return json.loads(component) if component.startswith("{") else component


def _decoded(body: str) -> str:
    """The decoded base64 payloads in a JSON body (``dcc.send_file`` downloads, ``data:`` URLs)."""
    try:
        tree = json.loads(body)
    except ValueError:
        return ""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("base64") and isinstance(node.get("content"), str):
                found.append(base64.b64decode(node["content"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("data:") and ";base64," in node[:200]:
            found.append(base64.b64decode(node.split(",", 1)[1]).decode(errors="replace"))

    walk(tree)
    return "\n".join(found)


class DashClient:
    """One user: a ``requests.Session`` that loaded the page (keeping any cookie the server sets, e.g. the
    user's upload space) and read the app's layout and callback dependencies."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        page = self.http.get(url + "/", timeout=60)
        page.raise_for_status()
        match = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text, re.S)
        self.end_id = json.loads(match.group(1)).get("end_id") if match else None
        self.dependencies = self.http.get(url + "/_dash-dependencies", timeout=60).json()
        self.layout = self.http.get(url + "/_dash-layout", timeout=60).json()

    def reload_layout(self) -> dict:
        self.layout = self.http.get(self.url + "/_dash-layout", timeout=60).json()
        return self.layout

    def dependency(self, output_id: str, changed: Iterable[str] = ()) -> dict:
        """The callback with output ``output_id`` (``'id.prop'``, ``@hash`` ignored); when several have it,
        the one whose inputs hold every prop id in ``changed``."""
        found = [d for d in self.dependencies if output_id in _output_ids(d)]
        if len(found) > 1:
            found = [d for d in found if set(changed) <= {f"{i['id']}.{i['property']}" for i in d["inputs"]}]
        if len(found) != 1:
            raise LookupError(f"{len(found)} callbacks output {output_id} with inputs {list(changed)}")
        return found[0]

    def consumers(self, prop_id: str) -> list[dict]:
        """The server-side callbacks that take ``prop_id`` as an Input."""
        return [
            d
            for d in self.dependencies
            if not d.get("clientside_function") and prop_id in {f"{i['id']}.{i['property']}" for i in d["inputs"]}
        ]

    def body(self, dependency: dict, values: dict, changed: list[str]) -> dict:
        """The request body the renderer would send for ``dependency``: inputs and state in its order, valued
        from ``values`` (``{(id, prop): value}``, ids as strings, a pattern id as its sorted JSON; absent = None)."""
        keyed = {(id_key(c), p): v for (c, p), v in values.items()}

        def filled(items: list[dict]) -> list[dict]:
            return [
                {"id": _maybe_json(i["id"]), "property": i["property"], "value": keyed.get((i["id"], i["property"]))}
                for i in items
            ]

        outputs = [{"id": c, "property": p} for c, p in _outputs_of(dependency["output"])]
        return {
            "output": dependency["output"],
            "outputs": outputs if dependency["output"].startswith("..") else outputs[0],
            "inputs": filled(dependency["inputs"]),
            "changedPropIds": list(changed),
            "state": filled(dependency["state"]),
        }

    def post(
        self,
        output_id: str,
        values: dict,
        changed: list[str],
        *,
        timeout: float = 60,
        dependency: dict | None = None,
    ) -> Reply:
        """POST the callback that outputs ``output_id`` (see :meth:`dependency`), as the browser would after
        ``changed`` changed; a background callback is polled (``?endId&cacheKey&job``, inputs nulled, as
        dash-renderer does) until it answers or ``timeout`` seconds pass."""
        dependency = dependency or self.dependency(output_id, changed)
        body = self.body(dependency, values, changed)
        args = {"endId": self.end_id} if self.end_id else {}
        started = time.monotonic()
        reply = Reply(status=None)
        try:
            first = self.http.post(self.url + "/_dash-update-component", json=body, params=args, timeout=timeout)
        except requests.RequestException as err:
            reply.bodies.append(f"<no answer: {type(err).__name__}>")
            reply.finished, reply.seconds = False, time.monotonic() - started
            return reply
        self._record(reply, first)
        handles = (reply.data or {}) if dependency.get("background") else {}
        if "cacheKey" in handles and "response" not in handles:
            polled = {**args, "cacheKey": handles["cacheKey"], "job": handles["job"]}
            blank = {
                **body,
                "inputs": [{**i, "value": None} for i in body["inputs"]],
                "state": [{**s, "value": None} for s in body["state"]],
            }
            interval = (dependency["background"] or {}).get("interval", 1000) / 1000
            reply.finished = False
            while time.monotonic() - started < timeout:
                time.sleep(min(interval, 0.5))
                try:
                    answer = self.http.post(
                        self.url + "/_dash-update-component", json=blank, params=polled, timeout=timeout
                    )
                except requests.RequestException as err:
                    reply.bodies.append(f"<no answer to a poll: {type(err).__name__}>")
                    break
                self._record(reply, answer)
                if answer.status_code != 200 or "response" in (reply.data or {}):
                    reply.finished = True
                    break
        reply.seconds = time.monotonic() - started
        return reply

    @staticmethod
    def _record(reply: Reply, answer: requests.Response) -> None:
        reply.status = answer.status_code
        reply.statuses.append(answer.status_code)
        reply.bodies.append(answer.text)
        try:
            reply.data = answer.json() if answer.text else None
        except ValueError:
            reply.data = None

    def cancel(self, reply: Reply, cancel_button: str) -> None:
        """Cancel a background job left running, as the Cancel button does (``cancelJob``)."""
        handles = json.loads(reply.bodies[0]) if reply.bodies and reply.bodies[0].startswith("{") else {}
        if "job" not in handles:
            return
        dependency = self.dependency(f"{cancel_button}.id", [f"{cancel_button}.n_clicks"])
        body = self.body(dependency, {(cancel_button, "n_clicks"): 1}, [f"{cancel_button}.n_clicks"])
        args = {"endId": self.end_id, "cancelJob": handles["job"]}
        self.http.post(self.url + "/_dash-update-component", json=body, params=args, timeout=30)

    def options(self, component_id: str) -> list[dict]:
        """The ``options`` of a component in the layout this client last read."""
        return props_of(self.layout).get(component_id, {}).get("options") or []

    def option_value(self, component_id: str, name: str) -> Any:
        """The value of the option of ``component_id`` whose label or value mentions ``name``."""
        for option in self.options(component_id):
            if isinstance(option, dict) and (name in str(option.get("label")) or name in str(option.get("value"))):
                return option["value"]
        raise LookupError(f"no option {name!r} in {component_id}: {self.options(component_id)}")


def props_of(layout: dict) -> dict[str, dict]:
    """Every component of a layout with an id: ``{id key: props}``."""
    found: dict[str, dict] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict):
                if "id" in props:
                    found[id_key(props["id"])] = props
                walk(props.get("children"))
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(layout)
    return found


# --------------------------------------------------------------------------------- watching the server


def _pss(pid: int) -> int | None:
    """Proportional set size (bytes) of a process: its shared pages counted once over the processes sharing
    them, so a job ``fork()``ed from the server does not count the server's memory twice as RSS would."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def tree_memory(server: Server) -> tuple[int, int]:
    """(PSS of the server and all its descendants, RSS of the server process itself), in bytes."""
    total, top_rss = 0, 0
    for i, process in enumerate(server.tree()):
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        top_rss = rss if i == 0 else top_rss
        pss = _pss(process.pid)
        total += pss if pss is not None else rss
    return total, top_rss


def tree_cpu(server: Server, seconds: float) -> float:
    """CPU use of the server and its descendants over ``seconds``, in % of one core (200 = two cores busy)."""
    processes = server.tree()
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.cpu_percent(None)
    time.sleep(seconds)
    busy = 0.0
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            busy += process.cpu_percent(None)
    return busy


@dataclass
class Watch:
    """What the watchers saw during an attack."""

    baseline_pss: int = 0
    peak_pss: int = 0
    baseline_rss: int = 0
    peak_rss: int = 0
    latencies: list[float] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        """Largest growth of the server tree's memory (PSS) over its level when the attack began, in MB."""
        return (self.peak_pss - self.baseline_pss) / 2**20

    @property
    def rss_growth_mb(self) -> float:
        """Largest growth of the server process's own RSS, in MB."""
        return (self.peak_rss - self.baseline_rss) / 2**20

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    def line(self) -> str:
        return (
            f"memory +{self.growth_mb:.0f} MB (tree PSS; server RSS +{self.rss_growth_mb:.0f} MB), "
            f"/healthz max {self.max_latency:.2f} s over {len(self.latencies)} polls"
            + (f", failures: {self.health_failures[:3]}" if self.health_failures else "")
        )


@contextmanager
def watching(server: Server, health_timeout: float = 10.0) -> Iterator[Watch]:
    """Poll ``/healthz`` every 0.5 s and sample the server tree's memory every 0.2 s while the block runs."""
    watch = Watch()
    watch.baseline_pss, watch.baseline_rss = tree_memory(server)
    watch.peak_pss, watch.peak_rss = watch.baseline_pss, watch.baseline_rss
    done = threading.Event()

    def health() -> None:
        with requests.Session() as http:
            while not done.is_set():
                started = time.monotonic()
                try:
                    answer = http.get(server.url + "/healthz", timeout=health_timeout)
                    if answer.status_code != 200:
                        watch.health_failures.append(f"HTTP {answer.status_code}")
                except requests.RequestException as err:
                    watch.health_failures.append(type(err).__name__)
                watch.latencies.append(time.monotonic() - started)
                done.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def memory() -> None:
        while not done.is_set():
            pss, rss = tree_memory(server)
            watch.peak_pss, watch.peak_rss = max(watch.peak_pss, pss), max(watch.peak_rss, rss)
            done.wait(0.2)

    threads = [threading.Thread(target=health, daemon=True), threading.Thread(target=memory, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield watch
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=health_timeout + 5)


# --------------------------------------------------------------------------------------- big request bodies


def stream_post(
    url: str, body_parts: Iterable[bytes], length: int, cookies: dict[str, str], timeout: float = 120
) -> tuple[int | None, bytes, int]:
    """POST a body of ``length`` bytes made of ``body_parts`` (generated lazily) over a raw socket, stopping the
    upload as soon as the server answers (e.g. 413 before reading the body).

    Returns (HTTP status or None, response body, bytes of the body actually sent).
    """
    parts = urlsplit(url)
    head = (
        f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n"
        + "".join(f"Cookie: {k}={v}\r\n" for k, v in cookies.items())
        + "\r\n"
    )
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered before the body was all sent
                sock.sendall(part)
                sent += len(part)
        except OSError:
            pass  # the server closed the connection: read whatever it said
        answer = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not _complete(answer):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(match.group(1)) if match else None), answer.partition(b"\r\n\r\n")[2], sent


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole HTTP response (a server may keep the socket open after a refusal)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length:
        return len(body) >= int(length.group(1))
    return re.search(rb"(?im)^transfer-encoding:\s*chunked", head) is not None and body.endswith(b"0\r\n\r\n")


# ------------------------------------------------------------------------------------------------- checks


def problems(reply: Reply | None, server: Server, watch: Watch | None, *, memory_mb: float = 300) -> list[str]:
    """What is wrong after an attack: a 500, a traceback or the secret in a reply, a dead server, memory grown
    by ``memory_mb`` or more, a slow ``/healthz``."""
    found = []
    if reply is not None:
        if 500 in reply.statuses:
            found.append(f"HTTP 500 ({reply.summary()})")
        text = reply.text()
        found += [f"traceback sign {sign!r} in the reply" for sign in TRACEBACK_SIGNS if sign in text]
        found += [f"secret {secret!r} in the reply" for secret in SECRETS if secret in text]
    if not server.alive():
        found.append(f"server died (exit {server.process.returncode}): {server.log_tail(10)}")
    if watch is not None:
        if watch.growth_mb >= memory_mb:
            found.append(f"memory grew by {watch.growth_mb:.0f} MB (limit {memory_mb:.0f})")
        if watch.max_latency > HEALTH_LIMIT_S or watch.health_failures:
            found.append(f"/healthz slow or failing: max {watch.max_latency:.1f} s, {watch.health_failures[:3]}")
    return found


# ------------------------------------------------------------------------------------- the attack scenario


@dataclass(frozen=True)
class Arena:
    """The folders a server is given: ``root`` (data root), ``outside`` (secret.csv), ``work`` (scratch)."""

    root: Path
    outside: Path
    work: Path


@dataclass(frozen=True)
class Stored:
    """A comparison stored by the server under attack and its run on both groups (an Explore result)."""

    compare_key: str
    result_key: str


def form(client: DashClient, **changes) -> dict:
    """The Explore form (``{(id, 'value'): value}``) of a small, quick run: B cells of the demo donor, the
    20-TF list, Pearson correlation, 50 top genes, no pruning; ``changes`` by component id (``-`` as ``_``)."""
    values = {
        "input": client.option_value("input", "kang2018_donor1016"),
        "tfs": client.option_value("tfs", "tfs_small"),
        "cell-type-key": "cluster_id",
        "cell-types": ["B cells"],
        "method": "pearson",
        "seed": 0,
        "runs": 1,
        "min-occurrence": 0.8,
        "n-top-genes": 50,
        "fdr": 0.05,
        "prune": "none",
        "prior-confidence": [],
        "motif-dbs": [],
    }
    values |= {key.replace("_", "-"): value for key, value in changes.items()}
    return {(component, "value"): value for component, value in values.items()}


def compare_form(client: DashClient, **changes) -> dict:
    """:func:`form` on ``kang_groups.h5ad``, comparing ``group_id`` ctrl against stim."""
    values = form(client, input=client.option_value("input", "kang_groups"), **changes)
    values |= {
        ("group-key", "value"): "group_id",
        ("group-a", "value"): "ctrl",
        ("group-b", "value"): "stim",
        ("compare-top", "value"): 5000,
        ("compare-reproducibility", "value"): [],
        ("compare-run", "n_clicks"): 1,
    }
    return values


class Ledger:
    """One row per attack case: what the server answered and what the watchers saw."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        attack: str,
        case: str,
        reply: Reply | None,
        watch: Watch | None,
        found: list[str],
        note: str = "",
    ) -> None:
        """Record one attack case: its reply, what the watchers saw, what was wrong (``found``) and a note."""
        text = reply.text() if reply else ""
        leaked = [s for s in SECRETS if s in text]
        self.rows.append(
            {
                "attack": attack,
                "case": case,
                "http": ",".join(str(s) for s in sorted(set(reply.statuses))) if reply and reply.statuses else "-",
                "leaked": ", ".join(leaked) or "no",
                "memory": f"+{watch.growth_mb:.0f} MB (server RSS +{watch.rss_growth_mb:.0f})" if watch else "-",
                "healthz": f"{watch.max_latency:.2f} s" if watch else "-",
                "verdict": "refused / held" if not found else "OPEN: " + "; ".join(found),
                "note": note,
            }
        )

    def markdown(self) -> str:
        columns = ["attack", "case", "http", "leaked", "memory", "healthz", "verdict", "note"]
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.rows:
            cells = [str(row[c]).replace("|", "\\|").replace("\n", " ")[:600] for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
