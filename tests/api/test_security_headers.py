"""Security headers on every kind of response: API, error, UI page, static file; the docs page without CSP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from prelabel.api.security import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/health", "/api/v1/projects", "/api/v1/no-such-path", "/login", "/static/ui.js"])
def test_every_response_carries_the_headers(raw: httpx.Client, path: str) -> None:
    r = raw.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in r.headers["content-security-policy"]  # no inline script, no eval


def test_the_interactive_docs_page_gets_no_csp(raw: httpx.Client) -> None:
    r = raw.get("/docs")
    assert r.status_code == 200 and "content-security-policy" not in r.headers
    assert r.headers["x-frame-options"] == "DENY"


def test_in_production_the_api_docs_need_a_signed_in_user(db_url: str, store: Any, tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from prelabel.api.app import create_app
    from prelabel.config import Settings
    from prelabel.service import auth

    settings = Settings(
        database_url=db_url, data_dir=tmp_path, environment="production", secret_key="k" * 40, run_worker=False
    )
    user = auth.create_user(store, "reader", "password-123")
    _, token = auth.create_token(store, auth.Actor(user.id, user.username), "docs")
    # https: the production session cookie is Secure
    with TestClient(create_app(settings, store=store), base_url="https://testserver") as client:
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/openapi.json", headers={"Authorization": "Bearer pl_wrong"}).status_code == 401
        spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "prelabel"
        first = client.get("/docs", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/login?next=/docs"
        page = client.get("/login").text
        form = {"username": "reader", "password": "password-123", "next": "/docs"}
        form["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data=form, follow_redirects=False)
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").status_code == 200  # the browser session suffices


def test_in_development_the_docs_are_open(raw: httpx.Client) -> None:
    assert raw.get("/openapi.json").status_code == 200 and raw.get("/docs").status_code == 200
