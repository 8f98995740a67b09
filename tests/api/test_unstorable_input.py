"""Values one database stores and the other refuses: the same clear 422 on SQLite and PostgreSQL, nothing written.

NUL characters (PostgreSQL text and jsonb cannot hold U+0000), NaN and infinities (not JSON), ids beyond the id
columns' range, and JSON nested deeper than the parser's stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prelabel.client import PrelabelAPIError

Send = Callable[[httpx.Client, dict[str, str], int], httpx.Response]


def _bearer(alice: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {alice.token}"}


def _assets(body: Any) -> Send:
    return lambda raw, headers, pid: raw.post(
        f"/api/v1/projects/{pid}/assets", headers={**headers, "Content-Type": "application/json"}, content=body
    )


def _jsonl(body: bytes) -> Send:
    return lambda raw, headers, pid: raw.post(
        f"/api/v1/projects/{pid}/assets",
        params={"format": "jsonl"},
        headers={**headers, "Content-Type": "application/x-ndjson"},
        content=body,
    )


DEEP = b'{"external_id": "d", "text": "deep", "m": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n"

CASES: dict[str, tuple[Send, str]] = {
    "NUL in a text": (
        _assets(json.dumps([{"external_id": "a", "content": "fire\x00 alarm"}])),
        "record 1 (external id 'a'): the text contains a NUL character (U+0000)",
    ),
    "NUL in an external id": (
        _assets(json.dumps([{"external_id": "a\x00b", "content": "fire"}])),
        "Record 1: the external id contains a NUL character (U+0000)",
    ),
    "NUL in metadata": (
        _assets(json.dumps([{"external_id": "a", "content": "fire", "json_metadata": {"k": "v\x00"}}])),
        "record 1 (external id 'a'): json_metadata['k'] contains a NUL character",
    ),
    "NaN in metadata": (
        _assets('[{"external_id": "a", "content": "fire", "json_metadata": {"a": NaN}}]'),
        "json_metadata['a'] contains nan, which is not a JSON number",
    ),
    "Infinity in a JSONL file": (
        _jsonl(b'{"external_id": "a", "text": "fire", "score": Infinity}\n'),
        "json_metadata['score'] contains inf, which is not a JSON number",
    ),
    "JSONL nested 50,000 deep": (_jsonl(DEEP), "JSONL line 1 is nested too deeply"),
    "NUL in text_contains": (
        lambda raw, headers, pid: raw.get(
            f"/api/v1/projects/{pid}/assets", params={"text_contains": "a\x00"}, headers=headers
        ),
        "text_contains contains a NUL character",
    ),
    "project id past 2**63": (
        lambda raw, headers, pid: raw.get("/api/v1/projects/9223372036854775808", headers=headers),
        "project_id must be an id between 1 and 9223372036854775807; got 9223372036854775808.",
    ),
    "asset id 0": (
        lambda raw, headers, pid: raw.get(f"/api/v1/projects/{pid}/assets/0", headers=headers),
        "asset_id must be an id between 1 and 9223372036854775807; got 0.",
    ),
    "model version id past 2**63 in a query": (
        lambda raw, headers, pid: raw.get(
            f"/api/v1/projects/{pid}/assets", params={"model_version_id": 2**64}, headers=headers
        ),
        "model_version_id must be an id between 1 and 9223372036854775807",
    ),
    "NUL in a project title": (
        lambda raw, headers, pid: raw.patch(f"/api/v1/projects/{pid}", json={"title": "a\x00"}, headers=headers),
        "The title contains a NUL character",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unstorable_values_get_the_same_422_and_write_nothing(
    case: str, alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., dict[str, Any]]
) -> None:
    send, message = CASES[case]
    before = alice.client.get_project(project_id)
    err = error_shape(send(raw, _bearer(alice), project_id), 422, "invalid_input")
    assert message in err["message"]
    assert alice.client.list_assets(project_id).items == []
    assert alice.client.get_project(project_id).title == before.title


def test_nul_and_nan_in_labels_and_predictions(
    alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., dict[str, Any]]
) -> None:
    alice.client.import_assets(project_id, [{"external_id": "a", "content": "fire"}])
    asset = alice.client.get_asset_by_external_id(project_id, "a")
    with pytest.raises(PrelabelAPIError, match="NUL character") as exc:
        alice.client.create_label(project_id, asset.id, {"JOB_0": {"categories": [{"name": "DIS\x00ASTER"}]}})
    assert exc.value.status == 422
    # httpx refuses to send NaN; a careless client's own JSON encoder does not
    nan = '{"items": [{"external_id": "a", "json_response": {"JOB_0": {"categories": [{"name": "DISASTER", ' \
        '"confidence": NaN}]}}}], "model_name": "x"}'
    headers = {**_bearer(alice), "Content-Type": "application/json"}
    r = raw.post(f"/api/v1/projects/{project_id}/predictions", headers=headers, content=nan)
    assert "not a JSON number" in error_shape(r, 422, "invalid_input")["message"]
    again = alice.client.get_asset_by_external_id(project_id, "a")
    assert again.labels == [] and again.status == "TODO" and alice.client.list_model_versions(project_id) == []


def test_an_id_past_32_bits_is_simply_not_found(alice: Any, project_id: int, raw: httpx.Client) -> None:
    r = raw.get(f"/api/v1/projects/{project_id}/assets/2147483648", headers=_bearer(alice))
    assert r.status_code == 404, r.text  # a 64-bit id no asset has, on both databases
