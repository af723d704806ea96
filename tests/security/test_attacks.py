"""Issue 24's attacks, replayed against a live dashboard through raw ``/_dash-update-component`` POSTs.

Each test is one attack; it FAILS while the hole is open. Every attack also checks that no reply is an HTTP 500
or carries a traceback or the secret placed outside the data root, that the server lives on, that its memory
(PSS of the server and its jobs) grew by less than 300 MB and that ``/healthz`` answered within 2 s throughout.

Run against another checkout (e.g. the code before the fixes) with ``GRIDAPP_SECURITY_CHECKOUT=/path``; set
``GRIDAPP_SECURITY_REPORT=/path/table.md`` to get the table of what each attack saw.

The order matters: attacks that may leave a request thread spinning for ever (``/dev/zero``) run last.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.security.live import (
    CHECKOUT,
    Arena,
    DashClient,
    Ledger,
    Reply,
    Server,
    Stored,
    compare_form,
    end_jobs_started_after,
    form,
    id_key,
    problems,
    props_of,
    split_prop,
    stream_post,
    tree_cpu,
    watching,
)

pytestmark = pytest.mark.slow

#: the message a refused over-limit job must name
CELL_LIMIT = "GRIDAPP_MAX_CELLS"


def _downloads(reply: Reply) -> list[Any]:
    """The ``data`` outputs of a reply that carry a download (anything but no_update / None)."""
    return [v for k, v in reply.outputs().items() if k.endswith(".data") and v]


# -------------------------------------------------------------------------------- 1. file read via export ids


@pytest.mark.parametrize("target", ["outside-secret", "another-result-auc"])
def test_compare_export_ids_name_no_file_outside_the_comparison(
    server: Server, stored: Stored, ledger: Ledger, target: str
):
    client = DashClient(server.url)
    dependency = client.dependency("compare-download.data")
    listed = [i["id"] for i in dependency["inputs"]]
    values = {(i, "n_clicks"): None for i in listed} | {("comparison", "data"): stored.compare_key}

    control = client.post("compare-download.data", values, [f"{listed[0]}.n_clicks"])
    assert _downloads(control), f"a listed table should download (harness check): {control.summary()}"

    table = str(server.outside / "secret") if target == "outside-secret" else f"../../results/{stored.result_key}/auc"
    hostile = id_key({"table": table, "type": "compare-export"})
    with watching(server) as watch:
        reply = client.post("compare-download.data", values, [f"{hostile}.n_clicks"])
    found = problems(reply, server, watch)
    if _downloads(reply):
        found.append(f"a file was sent for table {table!r}: {reply.text()[-200:]!r}")
    ledger.add("1 export ids", target, reply, watch, found, f"table id {table}")
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------ 2. prior / motif paths outside the roots


@pytest.mark.parametrize("pruning", ["prior", "cistarget"])
def test_launch_with_pruning_files_outside_the_roots_reveals_nothing(server: Server, ledger: Ledger, pruning: str):
    client = DashClient(server.url)
    secret = str(server.secret)
    if pruning == "prior":
        values = form(client, prune="prior", prior=secret)
    else:
        values = form(client, prune="cistarget", motif_dbs=[secret], motif_annotations=secret)
    values[("launch", "n_clicks")] = 1
    with watching(server) as watch:
        reply = client.post("result-key.data", values, ["launch.n_clicks"], timeout=300)
    found = problems(reply, server, watch)
    if not reply.finished:
        found.append("no answer within 300 s")
    status = reply.outputs().get("status.children")
    ledger.add("2 pruning files outside roots", pruning, reply, watch, found, f"status: {status}")
    assert not found, "\n".join(found)


def test_the_launch_check_is_no_file_existence_oracle(server: Server, ledger: Ledger):
    client = DashClient(server.url)
    answers = {}
    with watching(server) as watch:
        for prior in ("/etc/shadow", str(server.secret), "/nonexistent/x.csv"):
            values = form(client, prune="prior", prior=prior) | {("launch", "n_clicks"): 1}
            answers[prior] = client.post("launched.data", values, ["launch.n_clicks"], timeout=60)
    found = [p for reply in answers.values() for p in problems(reply, server, None)] + problems(None, server, watch)
    seen = {prior: (reply.statuses, reply.outputs()) for prior, reply in answers.items()}
    if len({json.dumps(answer, sort_keys=True, default=str) for answer in seen.values()}) > 1:
        found.append(f"the answers differ by whether the file exists: {seen}")
    merged = Reply(status=None, bodies=[b for r in answers.values() for b in r.bodies])
    merged.statuses = [s for r in answers.values() for s in r.statuses]
    ledger.add("2 pruning files outside roots", "existence oracle (launch watcher)", merged, watch, found, str(seen))
    assert not found, "\n".join(found)


# ---------------------------------------------------------------------------------- 4. uploads bound memory


def test_an_oversize_body_is_refused_before_it_is_read(server: Server, ledger: Ledger):
    client = DashClient(server.url)
    dependency = client.dependency("input.options", ["upload.contents"])
    marker = "@@PAYLOAD@@"
    values = {("upload", "contents"): marker, ("upload", "filename"): "big.h5ad", ("input", "options"): []}
    head, tail = json.dumps(client.body(dependency, values, ["upload.contents"])).encode().split(marker.encode())
    head += b"data:application/octet-stream;base64,"
    filler = (200 * 2**20 - len(head) - len(tail)) // 4 * 4  # base64 of zero bytes: 'A' * a multiple of 4
    size = len(head) + filler + len(tail)
    chunk = b"A" * 2**20

    def parts():
        yield head
        left = filler
        while left > 0:
            yield chunk[: min(left, len(chunk))]
            left -= len(chunk)
        yield tail

    url = f"{client.url}/_dash-update-component?endId={client.end_id}"
    with watching(server) as watch:
        status, body, sent = stream_post(url, parts(), size, client.http.cookies.get_dict())
    reply = Reply(status=status, bodies=[body.decode(errors="replace")], statuses=[status] if status else [])
    found = problems(reply, server, watch, memory_mb=100)
    if status is None:
        found.append("no HTTP answer (connection dropped)")
    elif status == 200 and "refused" not in reply.text().lower() and "limit" not in reply.text().lower():
        found.append(f"a 200 without a refusal message: {reply.text()[:300]!r}")
    elif status not in (200, 204, 400, 403, 413):
        found.append(f"unexpected HTTP {status}")
    note = f"{sent / 2**20:.0f} of {size / 2**20:.0f} MB sent before the answer; {reply.text()[:160]!r}"
    ledger.add("4 upload size", "200 MB body, 5 MB limit", reply, watch, found, note)
    assert not found, "\n".join(found)


def _upload(client: DashClient, path: Path, name: str, timeout: float = 120) -> Reply:
    contents = "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()
    values = {("upload", "contents"): contents, ("upload", "filename"): name, ("input", "options"): []}
    return client.post("input.options", values, ["upload.contents"], timeout=timeout)


def test_a_decompression_bomb_is_refused_before_it_is_loaded(
    server: Server, ledger: Ledger, upload_files: dict[str, Path]
):
    name = f"bomb_{uuid.uuid4().hex[:8]}.h5ad"
    client = DashClient(server.url)
    with watching(server) as watch:
        reply = _upload(client, upload_files["bomb"], name)
    found = problems(reply, server, watch)
    outputs = reply.outputs()
    if outputs.get("input.value") or not outputs.get("message.children"):
        found.append(f"accepted without a refusal message: input.value={outputs.get('input.value')!r}")
    other = DashClient(server.url)
    if name.removesuffix(".h5ad") in json.dumps(other.layout):
        found.append("listed in another user's dataset options")
    size = upload_files["bomb"].stat().st_size / 2**20
    note = f"{size:.2f} MB file, X 20,000 x 6,400 float32; message: {outputs.get('message.children')!r}"
    ledger.add("4 upload size", "decompression bomb", reply, watch, found, note)
    assert not found, "\n".join(found)


# ----------------------------------------------------------------------------------- 5. same-name upload race


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_file(server: Server, value: Any) -> Path | None:
    """The file behind an upload's dataset value: the path itself, else the one file under the cache folder
    whose path contains the value's last part (for servers that hand out ids rather than paths)."""
    if isinstance(value, str) and Path(value).is_file():
        return Path(value)
    tail = Path(str(value)).name
    found = [p for p in server.cache.rglob("*") if p.is_file() and tail and tail in str(p)]
    return found[0] if len(found) == 1 else None


def test_an_upload_under_a_taken_name_changes_nobody_elses_data(
    server: Server, ledger: Ledger, upload_files: dict[str, Path]
):
    alice, bob = DashClient(server.url), DashClient(server.url)
    with watching(server) as watch:
        first = _upload(alice, upload_files["x"], "toctou.h5ad")
        second = _upload(bob, upload_files["y"], "toctou.h5ad")
    found = problems(first, server, watch) + problems(second, server, None)
    mine, theirs = first.outputs().get("input.value"), second.outputs().get("input.value")
    assert mine and theirs, f"both uploads should be accepted: {first.summary()} / {second.summary()}"
    for who, value, source in (("A", mine, upload_files["x"]), ("B", theirs, upload_files["y"])):
        path = _stored_file(server, value)
        if path is None:
            found.append(f"{who}'s upload {value!r} is not a file in the cache folder")
        elif _sha256(path) != _sha256(source):
            found.append(f"{who}'s dataset {value!r} does not hold {who}'s bytes")
    alice.reload_layout()
    listed = [o.get("value") for o in alice.options("input") if isinstance(o, dict)]
    if theirs != mine and theirs in listed:
        found.append("B's upload is listed in A's dataset options")
    note = f"A got {mine!r}, B got {theirs!r}"
    ledger.add("5 same-name upload", "A then B as toctou.h5ad", second, watch, found, note)
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------------------ 7. hostile job keys


def _names_outside(cache: Path, token: str, checkout: Path) -> list[str]:
    """Files or folders whose name holds ``token`` in /tmp, the cache's parent folders and the checkout (not
    inside the cache folder)."""
    places = {Path("/tmp"), checkout, *cache.parents}
    places |= {p for p in cache.parent.rglob("*") if p.is_dir() and not p.is_relative_to(cache)}
    found = []
    for place in places:
        try:
            found += [str(place / name) for name in os.listdir(place) if token in name]
        except OSError:
            continue
    return sorted(set(found))


@pytest.mark.parametrize("shape", ["relative-escape", "absolute", "plain-hex"])
def test_the_job_watcher_writes_nothing_for_a_hostile_key(server: Server, ledger: Ledger, shape: str):
    token = uuid.uuid4().hex
    key = {"relative-escape": f"../../../../tmp/{token}", "absolute": f"/tmp/{token}", "plain-hex": token}[shape]
    client = DashClient(server.url)
    values = {
        ("job-watch", "n_intervals"): 1,
        ("launched", "data"): {"key": key, "started": False},
        ("status", "children"): "Queued: starting the job …",
        ("launch", "disabled"): True,
    }
    with watching(server) as watch:
        reply = client.post("launched.data", values, ["job-watch.n_intervals"], timeout=30)
    found = problems(reply, server, watch)
    outside = _names_outside(server.cache, token, CHECKOUT)
    if outside:
        found.append(f"files named after the key outside the cache: {outside}")
    inside = [str(p.relative_to(server.cache)) for p in server.cache.rglob(f"*{token}*")]
    ledger.add("7 hostile job keys", key, reply, watch, found, f"inside the cache: {inside or 'nothing'}")
    assert not found, "\n".join(found)


# --------------------------------------------------------------------------------- 8. assorted hostile values


def _view_state(client: DashClient, result_key: str) -> dict:
    """Every prop of the page as the layout sets it, then as opening ``result_key`` sets it."""
    state = {(cid, prop): value for cid, props in props_of(client.layout).items() for prop, value in props.items()}
    state[("result-key", "data")] = result_key
    opened = client.post("regulon.options", state, ["result-key.data"])
    state |= {split_prop(prop_id): value for prop_id, value in opened.outputs().items()}
    return state


def cascade(client: DashClient, state: dict, changes: dict[str, Any], hops: int = 2) -> list[tuple[str, Reply]]:
    """Change ``changes`` (``{'id.prop': value}``) and call every server-side callback that takes one as an Input,
    then those taking one of their outputs, ``hops`` levels deep, as the browser would (jobs excluded)."""
    state, frontier, replies = dict(state), dict(changes), []
    for _ in range(hops):
        state |= {split_prop(prop_id): value for prop_id, value in frontier.items()}
        following: dict[str, Any] = {}
        for prop_id in frontier:
            for dependency in client.consumers(prop_id):
                if dependency.get("background"):
                    continue
                reply = client.post("", state, [prop_id], dependency=dependency, timeout=60)
                replies.append((dependency["output"], reply))
                following |= {k: v for k, v in reply.outputs().items() if client.consumers(k) and k not in changes}
        frontier = following
    return replies


@pytest.mark.parametrize(
    ("prop_id", "value"),
    [
        ("runs.value", "../x"),
        ("colour-by.value", "nope"),
        ("selected-cells.data", [10**9]),
        ("result-key.data", {"a": 1}),
        ("regulon.value", 123),
        ("score-prior.value", "/etc/passwd"),
        ("view.data", {"key": "../../etc", "prior": "/etc/passwd", "selected": {"cells": "x"}}),
    ],
    ids=[
        "runs-dotdot",
        "colour-by-unknown",
        "selected-cell-out-of-range",
        "result-key-dict",
        "regulon-number",
        "prior-outside-roots",
        "view-state-forged",
    ],
)
def test_hostile_view_values_get_an_answer_not_a_500(
    server: Server, stored: Stored, ledger: Ledger, prop_id: str, value: Any
):
    client = DashClient(server.url)
    state = _view_state(client, stored.result_key)
    with watching(server) as watch:
        replies = cascade(client, state, {prop_id: value})
    found = problems(None, server, watch)
    failing = []
    for output, reply in replies:
        if problems(reply, server, None):
            failing.append(output.strip(".").split("...")[0])
            found += [f"{output[:60]}: {p[:200]}" for p in problems(reply, server, None)]
    merged = Reply(status=None, bodies=[b for _, r in replies for b in r.bodies])
    merged.statuses = [s for _, r in replies for s in r.statuses]
    note = f"{len(replies)} callbacks called; failing: {failing or 'none'}"
    ledger.add("8 hostile values", f"{prop_id} = {value!r}", merged, watch, found, note)
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------- 6. Compare and Benchmark over limits


def _niceness(server: Server) -> list[int]:
    values = []
    for process in server.tree()[1:]:
        try:
            values.append(process.nice())
        except Exception:  # the process ended meanwhile
            continue
    return values


def _while_watching_niceness(server: Server, call) -> tuple[Any, set[int]]:
    seen: set[int] = set()
    done = threading.Event()

    def sample():
        while not done.is_set():
            seen.update(_niceness(server))
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        return call(), seen
    finally:
        done.set()
        thread.join()


def test_compare_over_the_cell_limit_is_refused(limited_server: Server, ledger: Ledger):
    client = DashClient(limited_server.url)
    values = compare_form(client, cell_types=[])  # the whole donor: 1,045 cells, limit 100
    before = {p.pid for p in limited_server.tree()}
    with watching(limited_server) as watch:
        reply, nice = _while_watching_niceness(
            limited_server, lambda: client.post("comparison.data", values, ["compare-run.n_clicks"], timeout=120)
        )
    if not reply.finished:
        client.cancel(reply, "compare-cancel")
        end_jobs_started_after(limited_server, before)
    found = problems(reply, limited_server, watch)
    text = reply.text()
    if CELL_LIMIT not in text:
        ran = "still running after 120 s" if not reply.finished else f"answered {reply.outputs()}"
        found.append(f"not refused with a message naming {CELL_LIMIT}: {ran}")
    note = (
        f"answer after {reply.seconds:.0f} s: {reply.outputs() or reply.progress_text()[-160:]}; "
        f"job niceness seen: {sorted(nice) or 'no job process'}"
    )
    ledger.add("6 limits", "Compare, 1,045 cells, --max-cells 100", reply, watch, found, note)
    assert not found, "\n".join(found)


def test_benchmark_over_the_cell_limit_is_refused(limited_server: Server, ledger: Ledger):
    client = DashClient(limited_server.url)
    sets = [o["value"] if isinstance(o, dict) else o for o in client.options("bench-datasets")]
    if not sets:
        note = str(props_of(client.layout).get("bench-note", {}).get("children", "no BEELINE sets listed"))
        ledger.add("6 limits", "Benchmark", None, None, [], f"skipped: {note}")
        pytest.skip(f"no BEELINE data configured: {note}")
    chosen = next((s for s in sets if "500" in s), sets[0])
    values = {
        ("bench-run", "n_clicks"): 1,
        ("bench-methods", "value"): ["pearson"],
        ("bench-datasets", "value"): [chosen],
        ("bench-split", "value"): "full",
        ("bench-seeds", "value"): 1,
    }
    before = {p.pid for p in limited_server.tree()}
    with watching(limited_server) as watch:
        reply, nice = _while_watching_niceness(
            limited_server, lambda: client.post("bench-key.data", values, ["bench-run.n_clicks"], timeout=120)
        )
    if not reply.finished:
        client.cancel(reply, "bench-cancel")
        end_jobs_started_after(limited_server, before)
    found = problems(reply, limited_server, watch)
    if CELL_LIMIT not in reply.text():
        ran = "still running after 120 s" if not reply.finished else f"answered {reply.outputs()}"
        found.append(f"not refused with a message naming {CELL_LIMIT}: {ran}")
    note = (
        f"set {chosen}, pearson; answer after {reply.seconds:.0f} s: {reply.outputs()}; "
        f"job niceness seen: {sorted(nice) or 'no job process'}"
    )
    ledger.add("6 limits", "Benchmark, BEELINE set over --max-cells 100", reply, watch, found, note)
    assert not found, "\n".join(found)


# --------------------------------------------------------------- 3. endless and special files (keep this last)


def _release_fifo(path: Path) -> None:
    """Let every request blocked opening the FIFO ``path`` for reading go on (it then reads an empty file)."""
    for _ in range(20):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno == errno.ENXIO:  # no reader waits
                return
            raise
        os.close(fd)
        time.sleep(0.1)


#: the special files named in each field (FIFO: a named pipe inside the data root)
SPECIAL = {
    "prior": ["/dev/zero", "/dev/urandom", "FIFO"],
    "tfs": ["/dev/zero", "FIFO"],
    "input": ["/dev/zero", "FIFO"],
    "motif-dbs": ["/dev/zero", "FIFO"],
}
#: seconds a request naming a special file may take
ANSWER_WITHIN_S = 8.0
#: CPU (% of one core, over the level before the attack) the server may still use 5 s after the requests
BUSY_PERCENT = 25


def _special_calls(client: DashClient, field: str, fifo: Path) -> tuple[list[tuple], list[tuple]]:
    """(launches, plain requests) naming each special file of ``field``: the Explore launch (a background job),
    its launch check, and every other callback reading the field; each as (label, values, output, changed,
    dependency)."""
    launches, plain = [], []
    for special in SPECIAL[field]:
        path = str(fifo) if special == "FIFO" else special
        if field == "prior":
            extra = {"prune": "prior", "prior": path}
        elif field == "motif-dbs":
            annotations = client.option_value("prior", "dorothea")  # a regular file: only the database is special
            extra = {"prune": "cistarget", "motif_dbs": [path], "motif_annotations": annotations}
        else:
            extra = {field: path}
        values = form(client, **extra) | {("launch", "n_clicks"): 1}
        label = f"{field}={special}"
        launches.append((f"{label}: launch", values, "result-key.data", ["launch.n_clicks"], None))
        plain.append((f"{label}: launch check", values, "launched.data", ["launch.n_clicks"], None))
        for dependency in client.consumers(f"{field}.value"):
            if not dependency.get("background"):
                name = dependency["output"].strip(".").split("...")[0]
                plain.append((f"{label}: {name}", values, "", [f"{field}.value"], dependency))
    return launches, plain


def test_endless_and_special_files_get_a_quick_answer_and_no_busy_worker(server: Server, arena: Arena, ledger: Ledger):
    """/dev/zero, /dev/urandom and a FIFO in the data root named as prior, TF list, dataset and motif database:
    every request answers within a few seconds, no process stays busy, and a later launch by someone else (a
    job fork) still gets its answer (before the fixes a request stuck on such a file held the fork gate shut)."""
    client, bystander = DashClient(server.url), DashClient(server.url)
    fifos = {"input": arena.root / "pipe.h5ad", "other": arena.root / "pipe_list.txt"}
    for fifo in fifos.values():
        os.mkfifo(fifo)
    launches, plain = [], []
    for field in SPECIAL:
        more_launches, more_plain = _special_calls(client, field, fifos["input" if field == "input" else "other"])
        launches, plain = launches + more_launches, plain + more_plain
    replies: dict[str, Reply] = {}

    def call(label, values, output, changed, dependency):
        replies[label] = client.post(output, values, changed, dependency=dependency, timeout=ANSWER_WITHIN_S + 7)

    def run_all(calls: list[tuple], settle: float) -> list[threading.Thread]:
        threads = [threading.Thread(target=call, args=c, daemon=True) for c in calls]
        for thread in threads:
            thread.start()
        time.sleep(settle)
        return threads

    pids_before = {p.pid for p in server.tree()}
    baseline = tree_cpu(server, 2)
    try:
        with watching(server) as watch:
            threads = run_all(launches, 3)  # the jobs fork first, while no request is stuck
            threads += run_all(plain, 0)
            for thread in threads:
                thread.join(ANSWER_WITHIN_S + 30)
            later = bystander.post(
                "result-key.data", {("launch", "n_clicks"): 1}, ["launch.n_clicks"], timeout=ANSWER_WITHIN_S + 7
            )
            busy = tree_cpu(server, 5)
    finally:
        ended = end_jobs_started_after(server, pids_before)
        for fifo in fifos.values():
            _release_fifo(fifo)
            fifo.unlink()
    common = problems(later, server, watch)
    if not later.finished or later.seconds > ANSWER_WITHIN_S:
        common.append(f"a later empty launch by another user got no answer within {ANSWER_WITHIN_S:.0f} s")
    if busy - baseline > BUSY_PERCENT:
        common.append(f"the server stayed busy: {busy:.0f} % of a core for 5 s after (before: {baseline:.0f} %)")
    everything = list(common)
    for field in SPECIAL:
        mine = {label: reply for label, reply in replies.items() if label.startswith(f"{field}=")}
        found = []
        for label, reply in mine.items():
            found += [f"{label}: {p[:200]}" for p in problems(reply, server, None)]
            if not reply.finished or reply.seconds > ANSWER_WITHIN_S:
                found.append(f"{label}: no answer within {ANSWER_WITHIN_S:.0f} s ({reply.seconds:.1f} s)")
        merged = Reply(status=None, bodies=[b for r in mine.values() for b in r.bodies])
        merged.statuses = [s for r in mine.values() for s in r.statuses]
        slow = [label.split("=", 1)[1] for label, r in mine.items() if not r.finished or r.seconds > ANSWER_WITHIN_S]
        ledger.add("3 special files", field, merged, None, found, f"unanswered: {slow or 'none'}")
        everything += found
    note = (
        f"CPU {baseline:.0f} % before, {busy:.0f} % for 5 s after; runaway job processes killed: {len(ended)}; "
        f"a later empty launch answered in {later.seconds:.1f} s ({later.statuses})"
    )
    ledger.add("3 special files", "all of the above at once", later, watch, common, note)
    assert not everything, "\n".join(everything)
