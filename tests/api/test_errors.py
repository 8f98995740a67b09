"""Every error response has the one body shape {"error": {"code", "message", "details"}}: PrelabelError
subclasses, FastAPI validation errors, unknown paths, wrong methods and unexpected exceptions alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from prelabel.client import PrelabelAPIError, ServerError


def _requests(pid: int) -> list[tuple[str, str, dict[str, Any], int]]:
    base = f"/api/v1/projects/{pid}"
    return [
        ("GET", "/api/v1/nowhere", {}, 404),
        ("GET", "/nowhere/at/all", {}, 404),
        ("DELETE", "/api/v1/me", {}, 405),
        ("PUT", "/api/v1/projects", {}, 405),
        ("GET", "/api/v1/projects/not-a-number", {}, 422),
        ("POST", "/api/v1/projects", {"json": {"title": 3}}, 422),
        (
            "POST",
            "/api/v1/projects",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            422,
        ),
        ("GET", "/api/v1/projects/424242", {}, 404),
        ("GET", f"{base}/assets/424242", {}, 404),
        ("GET", f"{base}/assets", {"params": {"labeled": "maybe"}}, 422),
        ("POST", f"{base}/assets", {"content": b"x", "headers": {"Content-Type": "image/png"}}, 415),
        (
            "POST",
            f"{base}/assets/424242/labels",
            {"json": {"json_response": {"JOB_0": {"categories": [{"name": "DISASTER"}]}}}},
            404,
        ),
        ("POST", f"{base}/assets/1/labels", {"json": {"json_response": {}}}, 422),
        ("POST", f"{base}/predictions", {"json": {"items": "no"}}, 422),
        ("POST", "/api/v1/tokens", {"json": {}}, 422),
        ("DELETE", "/api/v1/tokens/999", {}, 404),
        ("PATCH", base, {"json": {"interface": {"jobs": "x"}}}, 422),
    ]


def test_every_error_has_the_one_shape(
    alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    for method, path, kwargs, status in _requests(project_id):
        headers = {"X-API-Key": alice.token, **kwargs.pop("headers", {})}
        r = raw.request(method, path, headers=headers, **kwargs)
        err = error_shape(r, status)
        assert err["code"] != "internal_error", (method, path, err)
    # Without a token: 401 (or 404/405 for unknown paths and methods, 422 for a malformed path), same shape.
    for method, path, kwargs, _ in _requests(project_id):
        r = raw.request(method, path, **kwargs)
        assert r.status_code in (401, 404, 405, 422), (method, path, r.status_code)
        error_shape(r, r.status_code)
    assert raw.get(f"/api/v1/projects/{project_id}").status_code == 401


def test_validation_error_names_the_field(alice: Any, raw: httpx.Client, error_shape: Callable[..., Any]) -> None:
    r = raw.post("/api/v1/projects", json={"title": "x", "interface": "nope"}, headers={"X-API-Key": alice.token})
    err = error_shape(r, 422, "invalid_input")
    assert "body interface" in err["message"]
    assert err["details"]["errors"][0]["location"] == "body interface"


def test_unexpected_errors_are_500_without_internals(
    app: FastAPI, alice: Any, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/explode", explode, methods=["GET"])
    r = raw.get("/api/v1/explode")
    err = error_shape(r, 500, "internal_error")
    assert "secret" not in r.text
    with pytest.raises(ServerError) as exc:
        alice.client._json("GET", "/explode")
    assert isinstance(exc.value, PrelabelAPIError) and exc.value.status == 500
    assert exc.value.code == err["code"]


def test_openapi_documents_the_routes(raw: httpx.Client) -> None:
    spec = raw.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/health",
        "/api/v1/me",
        "/api/v1/projects",
        "/api/v1/projects/{project_id}/assets",
        "/api/v1/projects/{project_id}/export",
        "/api/v1/projects/{project_id}/predictions",
    ):
        assert path in paths
    assert raw.get("/docs").status_code == 200


def test_create_app_installs_the_browser_ui(raw: httpx.Client) -> None:
    r = raw.get("/", follow_redirects=False)
    assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
    login = raw.get("/login")
    assert login.status_code == 200 and "text/html" in login.headers["content-type"]
