"""The container's entry command, run outside Docker (no Docker here): same gunicorn command, same
environment, and its health check passes."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port, running, wait_for_http

DOCKERFILE = ROOT / "Dockerfile"


def _instruction(name: str) -> str:
    """The (last) ``name`` instruction of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line[len(name) + 1 :] for line in text.splitlines() if line.startswith(name + " ")][-1]


def _environment(tmp_path: Path) -> dict[str, str]:
    """The image's ENV, with its volumes (/data, /cache) moved under ``tmp_path`` and a free port."""
    env = dict(pair.split("=", 1) for pair in shlex.split(_instruction("ENV")))
    moved = {"/data": str(ROOT / "data"), "/cache": str(tmp_path / "cache")}
    env = {key: re.sub(r"^/(data|cache)", lambda m: moved[m.group(0)], value) for key, value in env.items()}
    return {**env, "PORT": str(free_port()), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def test_the_image_command_serves_the_dashboard_and_passes_its_health_check(tmp_path):
    pytest.importorskip("gunicorn", reason="gunicorn is in requirements.txt")
    env = _environment(tmp_path)
    command = json.loads(_instruction("CMD"))
    assert env["GRIDAPP_DATA_ROOTS"] == str(ROOT / "data") and "gunicorn app:server" in command[-1]
    with running(command, env, tmp_path / "gunicorn.log") as process:
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
