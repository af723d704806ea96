"""The container's entry command, run outside Docker (no Docker here): same gunicorn command, same
environment, and its health check passes; and the hardening of the image and compose.yaml, read from the
files."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from gridapp.core import numba_cache
from tests.processes import CELERY_WORKER, ROOT, free_port, running, wait_for_http

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
PINNED = re.compile(r"\S+@sha256:[0-9a-f]{64}")


def _instruction(name: str) -> str:
    """The (last) ``name`` instruction of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line[len(name) + 1 :] for line in text.splitlines() if line.startswith(name + " ")][-1]


def _environment(tmp_path: Path) -> dict[str, str]:
    """The image's ENV, with its volumes (/data, /cache) moved under ``tmp_path`` and a free port.

    The cache volume is one used before: its numba folder a copy of this session's compiled kernels (a first
    boot compiles them in each gunicorn worker, half a minute of the suite).
    """
    env = dict(pair.split("=", 1) for pair in shlex.split(_instruction("ENV")))
    moved = {"/data": str(ROOT / "data"), "/cache": str(tmp_path / "cache")}
    env = {key: re.sub(r"^/(data|cache)", lambda m: moved[m.group(0)], value) for key, value in env.items()}
    shutil.copytree(numba_cache.CACHE_DIR, env["NUMBA_CACHE_DIR"])
    return {**env, "PORT": str(free_port()), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


@pytest.mark.slow  # boots gunicorn and the dashboard
def test_the_image_command_serves_the_dashboard_and_passes_its_health_check(tmp_path):
    pytest.importorskip("gunicorn", reason="gunicorn is in requirements.txt")
    env = _environment(tmp_path)
    command = json.loads(_instruction("CMD"))
    assert env["GRIDAPP_DATA_ROOTS"] == str(ROOT / "data") and "gunicorn app:server" in command[-1]
    # no PYTHONPATH, as in the image: gunicorn finds app.py in its folder, gridapp where it is installed
    with running(command, env, tmp_path / "gunicorn.log", pythonpath=False) as process:
        url = f"http://127.0.0.1:{env['PORT']}"
        wait_for_http(url + "/healthz", process=process)
        check = shlex.split(_instruction("HEALTHCHECK").split(" CMD ", 1)[1])
        assert subprocess.run(check, env={**os.environ, **env}, timeout=30).returncode == 0
        page = subprocess.run(
            [sys.executable, "-c", f"import urllib.request; print(urllib.request.urlopen('{url}').read()[:2000])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "gridapp" in page.stdout
        _assert_debug_is_off(url)
    assert "Booting worker" in (tmp_path / "gunicorn.log").read_text()


def _assert_debug_is_off(url: str) -> None:
    """No dev-tools UI or hot reload in the page, and a broken callback request gets no traceback."""
    html = urllib.request.urlopen(url, timeout=30).read().decode()
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', html).group(1))
    assert config["ui"] is False and "hot_reload" not in config
    bogus = urllib.request.Request(
        url + "/_dash-update-component",
        data=json.dumps({"output": "nothing.children", "outputs": {}, "inputs": [], "changedPropIds": []}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bogus, timeout=30)
    body = refused.value.read().decode(errors="replace")
    assert "Traceback" not in body and 'File "' not in body


def _compose() -> dict:
    """compose.yaml's services (YAML merge keys applied, ``${...}`` left as written)."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def _default(value: str) -> str:
    """``value`` as compose reads it when no variable is set: ``${NAME:-default}`` becomes ``default``."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_base_images_are_pinned_by_digest():
    bases = [
        line.split()[1] for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if line.startswith("FROM ")
    ]
    pulled = [service["image"] for service in _compose().values() if "build" not in service and "image" in service]
    pulled = [image for image in pulled if image != "gridapp"]  # the image built here
    assert bases and pulled and all(PINNED.fullmatch(image) for image in bases + pulled), bases + pulled


def test_dockerignore_keeps_history_environments_and_secrets_out():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".git", ".venv", ".env", "results", "**/__pycache__"} <= set(ignored)


def test_the_code_is_not_writable_by_the_user_the_image_runs_as():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY . ." in text and "--chown" not in text  # the code's files belong to root ...
    assert "chmod -R go-w /app" in text  # ... and root alone may write them
    assert _instruction("USER") not in ("root", "0")


def test_compose_publishes_the_dashboard_on_this_machine_only_by_default():
    published = {name: [_default(port) for port in service.get("ports", [])] for name, service in _compose().items()}
    assert published.pop("app") == ["127.0.0.1:8050:8050"]
    assert not any(published.values()), published  # Redis and Dask: reachable inside compose's network only


def test_redis_asks_for_a_password_compose_requires_and_bounds_its_memory():
    services = _compose()
    redis = services["redis"]
    command = " ".join(redis["command"])
    for option in ("--requirepass", "--maxmemory ", "--maxmemory-policy noeviction", "--save ''", "--appendonly no"):
        assert option in command, option
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    for name in ("app", "worker"):
        assert services[name]["environment"]["GRIDAPP_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")


def test_every_container_has_a_memory_limit_a_read_only_root_and_no_capabilities():
    for name, service in _compose().items():
        limit = service.get("mem_limit") or service.get("deploy", {}).get("resources", {}).get("limits", {}).get(
            "memory"
        )
        assert limit, f"{name} has no memory limit"
        assert service.get("read_only") is True and service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name


def test_deployment_docs_and_compose_start_the_worker_with_the_command_the_job_queue_test_runs():
    documented = " ".join(CELERY_WORKER)
    assert documented in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert f"exec {documented} " in " ".join(_compose()["worker"]["command"])
