"""Who is calling: the optional login (proxy header or basic auth), each caller's own upload space, and the
server's answers to requests it cannot take (413 before reading, 400 with a message, never a traceback)."""

from __future__ import annotations

import base64
import json

import pytest
from werkzeug.security import generate_password_hash

from gridapp.app.access import SPACE_COOKIE, Access, read_users
from gridapp.app.server import create_app
from gridapp.core.errors import GridappError


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "users"
    path.write_text(f"# lab members\nada:{generate_password_hash('secret')}\n")
    return path


def _app(tmp_path, **settings):
    return create_app(cache_dir=tmp_path / "cache", max_upload_mb=1, beeline_root=None, **settings).server


def test_basic_auth_lets_in_only_a_listed_user_with_the_right_password(tmp_path, users_file):
    client = _app(tmp_path, access=Access.from_settings(None, users_file)).test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers=_basic("ada", "wrong")).status_code == 401
    assert client.get("/", headers=_basic("eve", "secret")).status_code == 401
    assert client.get("/", headers=_basic("ada", "secret")).status_code == 200
    assert client.get("/healthz").status_code == 200  # the container's health check needs no login


def test_a_proxy_header_login_refuses_requests_without_it(tmp_path):
    client = _app(tmp_path, access=Access(auth_header="X-Forwarded-User")).test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"X-Forwarded-User": "ada"}).status_code == 200


def test_each_user_or_browser_has_its_own_upload_space(users_file):
    basic = Access.from_settings(None, users_file)
    assert basic.space(_basic("ada", "secret"), {}) != basic.space(_basic("bob", "x"), {})
    proxy = Access(auth_header="X-Forwarded-User")
    assert proxy.space({"x-forwarded-user": "ada"}, {}) == proxy.space({"X-Forwarded-User": "ada"}, {SPACE_COOKIE: "z"})
    anonymous = Access()
    assert anonymous.space({}, {SPACE_COOKIE: "a"}) != anonymous.space({}, {SPACE_COOKIE: "b"})
    assert anonymous.space({}, {}) is None


def test_a_broken_users_file_is_refused_with_a_message(tmp_path):
    (tmp_path / "users").write_text("no-separator-here\n")
    with pytest.raises(GridappError, match="not user:hash"):
        read_users(tmp_path / "users")


def test_a_first_visit_gets_an_upload_space_cookie(tmp_path):
    response = _app(tmp_path).test_client().get("/")
    assert SPACE_COOKIE in response.headers.get("Set-Cookie", "")


def test_a_body_over_the_upload_limit_is_refused_with_a_message(tmp_path):
    client = _app(tmp_path).test_client()
    body = b"x" * (3 * 2**20)  # over 1 MB as base64 plus the allowance for the rest of the request
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 413 and b"1 MB upload limit" in response.data


@pytest.mark.parametrize(
    "body",
    [
        {"output": "nothing.children", "outputs": {}, "inputs": [], "changedPropIds": []},
        {"output": "status.children"},
        ["not", "a", "callback"],
    ],
)
def test_a_request_no_callback_can_take_gets_a_400_with_a_message(tmp_path, body):
    response = (
        _app(tmp_path)
        .test_client()
        .post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    )
    assert response.status_code == 400 and b"reload the page" in response.data
    assert b"Traceback" not in response.data
