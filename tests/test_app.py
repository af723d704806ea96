"""The dashboard entry point imports and serves its page (the full UI arrives with the next issue)."""

from __future__ import annotations


def test_app_serves_a_page():
    from app import server

    response = server.test_client().get("/")
    assert response.status_code == 200 and b"gridapp" in response.data
