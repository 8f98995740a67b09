"""What the OpenAPI schema promises about errors and methods, and the import's role check before its body.

- every route documents its error statuses with the one error body (schemathesis checks the answers against
  them: tests/reliability/test_schemathesis.py);
- OPTIONS names every method of a path, and a 405 does too;
- an import refuses a caller who may not import before it reads the body: a body that cannot be parsed gets the
  same 404 / 403 as a good one, where an admin gets the parse error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from api.conftest import UserCtx

IMPORT = "POST /api/v1/projects/{project_id}/assets"  # reads its body itself: a bad one is a 422 naming it
ERROR_STATUSES = {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"}


def _openapi(raw: httpx.Client) -> dict[str, Any]:
    r = raw.get("/openapi.json")
    assert r.status_code == 200, r.text
    schema: dict[str, Any] = r.json()
    return schema


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_every_error_status_is_documented_with_the_error_body(raw: httpx.Client) -> None:
    schema = _openapi(raw)
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's 422 shape is never answered
    for method, path, op in _operations(schema):
        responses = op["responses"]
        where = f"{method} {path}"
        assert "422" in responses, where
        if op.get("security"):
            assert "401" in responses, where
        if "{" in path and not path.startswith("/label-studio/{token}"):
            assert "404" in responses, where
        if "application/json" in op.get("requestBody", {}).get("content", {}) and where != IMPORT:
            assert "400" in responses, where  # FastAPI's answer to JSON it cannot decode
        for status in ERROR_STATUSES & set(responses):
            body = _resolve(schema, responses[status]["content"]["application/json"]["schema"])
            assert "error" in body["required"], (where, status, body)


def test_the_error_body_names_code_message_and_details(raw: httpx.Client) -> None:
    schema = _openapi(raw)
    op = schema["paths"]["/api/v1/projects/{project_id}"]["get"]
    body = _resolve(schema, op["responses"]["404"]["content"]["application/json"]["schema"])
    error = _resolve(schema, body["properties"]["error"])
    assert set(error["required"]) == {"code", "message", "details"}


def test_the_import_documents_its_bodies_and_statuses(raw: httpx.Client) -> None:
    op = _openapi(raw)["paths"]["/api/v1/projects/{project_id}/assets"]["post"]
    assert {"application/json", "text/csv", "application/x-ndjson", "multipart/form-data"} <= set(
        op["requestBody"]["content"]
    )
    assert {"401", "403", "404", "409", "413", "415", "422"} <= set(op["responses"])


def test_options_names_every_method_of_the_path(raw: httpx.Client, project_id: int) -> None:
    for path, methods in [
        ("/api/v1/projects", "GET, POST"),
        (f"/api/v1/projects/{project_id}", "GET, PATCH, DELETE"),
        (f"/api/v1/projects/{project_id}/queue/next", "POST"),  # it takes a lease: POST only
        ("/api/v1/tokens", "GET, POST"),
    ]:
        r = raw.options(path)
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert r.headers["allow"] == f"{methods}, OPTIONS", path
    assert raw.options("/api/v1/nowhere").status_code == 404


def test_a_method_the_path_lacks_is_405_naming_every_method(
    raw: httpx.Client, alice: UserCtx, error_shape: Callable[..., dict[str, Any]]
) -> None:
    r = raw.put("/api/v1/projects", headers={"X-API-Key": alice.token})
    err = error_shape(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    assert "GET, POST" in err["message"]


def test_a_json_body_that_is_not_utf8_is_400(
    raw: httpx.Client, alice: UserCtx, error_shape: Callable[..., dict[str, Any]]
) -> None:
    headers = {"X-API-Key": alice.token, "Content-Type": "application/json"}
    r = raw.post("/api/v1/tokens", content=b'{"name": "\xff\xfe"}', headers=headers)
    err = error_shape(r, 400, "bad_request")
    assert "UTF-8" in err["message"]


def _import(raw: httpx.Client, token: str, project_id: int, body: bytes, media: str, **params: str) -> httpx.Response:
    headers = {"X-API-Key": token, "Content-Type": media}
    return raw.post(f"/api/v1/projects/{project_id}/assets", content=body, headers=headers, params=params)


def test_an_import_checks_the_role_before_reading_the_body(
    raw: httpx.Client,
    alice: UserCtx,
    make_user: Callable[..., UserCtx],
    project_id: int,
    error_shape: Callable[..., dict[str, Any]],
) -> None:
    bob = make_user("bob")  # no member of the project
    lara = make_user("lara")
    alice.client.add_member(project_id, "lara", "labeler")
    broken = b'[{"external_id": "a", "content": '  # JSON cut off: parsing it fails
    too_large = b"x" * 2_000_001  # the API tests' server accepts 2,000,000 bytes
    refused = [
        (broken, "application/json", {}),
        (broken, "application/json", {"format": "label-studio"}),
        (broken, "text/csv", {}),
        (too_large, "text/csv", {}),
        (b"\x89PNG", "image/png", {}),
    ]
    for body, media, params in refused:
        error_shape(_import(raw, bob.token, project_id, body, media, **params), 404, "not_found")
        error_shape(_import(raw, lara.token, project_id, body, media, **params), 403, "permission_denied")
    # The same bodies from the admin: parsed, and refused for what they are.
    statuses = [_import(raw, alice.token, project_id, b, m, **p).status_code for b, m, p in refused]
    assert statuses == [422, 422, 422, 413, 415]
    assert alice.client.project_stats(project_id).n_assets == 0
