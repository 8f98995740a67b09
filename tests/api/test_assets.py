"""Asset import (JSON, CSV, JSONL, multipart; column options; on_conflict), every bad input refused with a
clear 4xx and nothing written, keyset pagination, single assets."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.client import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError


def _n_assets(alice: Any, project_id: int) -> int:
    return int(alice.client.project_stats(project_id).n_assets)


def test_json_array_import(alice: Any, project_id: int) -> None:
    records = [
        {"external_id": "t1", "content": "Forest fire near La Ronge", "json_metadata": {"keyword": "fire"}},
        {
            "external_id": "t2",
            "content": "I love fruits",
            "is_honeypot": True,
            "honeypot_response": {"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}},
        },
        {
            "external_id": "t3",
            "content": "Flood warning",
            "label": {"JOB_0": {"categories": [{"name": "DISASTER"}]}},
        },
    ]
    result = alice.client.import_assets(project_id, records)
    assert (result.created, result.updated, result.skipped, result.labels_created) == (3, 0, 0, 1)
    by_ext = {a.external_id: a for a in alice.client.iter_assets(project_id)}
    assert by_ext["t1"].json_metadata == {"keyword": "fire"}
    assert by_ext["t2"].is_honeypot
    assert by_ext["t3"].status == "LABELED" and by_ext["t3"].labels[0].author == "alice"


def test_csv_raw_body_with_column_options(alice: Any, project_id: int, datasets: Path) -> None:
    with open(datasets / "disaster_tweets" / "train.csv", encoding="utf-8", newline="") as fh:
        rows = [row for _, row in zip(range(50), csv.DictReader(fh), strict=False)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = buf.getvalue().encode()
    result = alice.client.import_file(
        project_id, data, format="csv", id_column="id", metadata_columns=["keyword", "location"]
    )
    assert result.created == 50
    asset = alice.client.get_asset_by_external_id(project_id, "1")
    assert asset.content.startswith("Our Deeds are the Reason")
    assert asset.json_metadata == {"keyword": "", "location": ""}


def test_jsonl_and_multipart_uploads(alice: Any, project_id: int, raw: httpx.Client, tmp_path: Path) -> None:
    jsonl = b'{"external_id": "j1", "text": "one"}\n{"external_id": "j2", "text": "two", "lang": "en"}\n'
    path = tmp_path / "assets.jsonl"
    path.write_bytes(jsonl)
    assert alice.client.import_file(project_id, path).created == 2
    assert alice.client.get_asset_by_external_id(project_id, "j2").json_metadata == {"lang": "en"}

    r = raw.post(
        f"/api/v1/projects/{project_id}/assets",
        params={"id_column": "key"},
        files={"file": ("more.csv", b"key,text\nm1,hello\nm2,world\n", "text/csv")},
        headers={"X-API-Key": alice.token},
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    assert _n_assets(alice, project_id) == 4


def test_ids_generated_from_text_when_no_id_column(alice: Any, project_id: int) -> None:
    data = b"text\nsame\nother\nsame\n"
    first = alice.client.import_file(project_id, data, format="csv")
    assert first.created == 3
    again = alice.client.import_file(project_id, data, format="csv", on_conflict="skip")
    assert (again.created, again.skipped) == (0, 3)


def test_on_conflict_error_skip_update(alice: Any, project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "a", "content": "old"}, {"external_id": "b", "content": "b"}])
    with pytest.raises(ConflictError) as exc:
        c.import_assets(project_id, [{"external_id": "a", "content": "new"}, {"external_id": "c", "content": "c"}])
    assert exc.value.status == 409 and "on_conflict" in exc.value.message
    assert _n_assets(alice, project_id) == 2  # 'c' was not written either
    r = c.import_assets(
        project_id,
        [{"external_id": "a", "content": "new"}, {"external_id": "c", "content": "c"}],
        on_conflict="skip",
    )
    assert (r.created, r.skipped) == (1, 1)
    assert c.get_asset_by_external_id(project_id, "a").content == "old"
    r = c.import_assets(project_id, [{"external_id": "a", "content": "new"}], on_conflict="update")
    assert r.updated == 1
    assert c.get_asset_by_external_id(project_id, "a").content == "new"


BAD_UPLOADS: list[tuple[str, bytes, str, dict[str, str], int, str]] = [
    ("malformed CSV", b'external_id,text\n1,"unterminated\n', "text/csv", {}, 422, "CSV"),
    ("wrong encoding", "external_id,text\n1,caf\u00e9\n".encode("latin-1"), "text/csv", {}, 422, "UTF-8"),
    ("empty text", b"external_id,text\n1,hello\n2,   \n", "text/csv", {}, 422, "empty"),
    ("missing column", b"external_id,body\n1,hello\n", "text/csv", {}, 422, "'text'"),
    ("missing chosen id column", b"text\nhello\n", "text/csv", {"id_column": "id"}, 422, "'id'"),
    ("duplicate ids", b"external_id,text\n1,a\n2,b\n1,c\n", "text/csv", {}, 422, "'1'"),
    ("malformed JSONL", b'{"text": "a"}\n{"text": \n', "application/x-ndjson", {}, 422, "line 2"),
    ("JSONL not objects", b'["a"]\n', "application/x-ndjson", {}, 422, "object"),
    ("empty file", b"", "text/csv", {}, 422, "empty"),
    ("JSON not an array", b'{"external_id": "1"}', "application/json", {}, 422, "array"),
    ("JSON missing content", b'[{"external_id": "1"}]', "application/json", {}, 422, "content"),
    (
        "JSON duplicate ids",
        b'[{"external_id": "1", "content": "a"}, {"external_id": "1", "content": "b"}]',
        "application/json",
        {},
        422,
        "twice",
    ),
    ("JSON empty text", b'[{"external_id": "1", "content": "  "}]', "application/json", {}, 422, "empty"),
    (
        "JSON unknown label category",
        b'[{"external_id": "1", "content": "a", "label": {"JOB_0": {"categories": [{"name": "MAYBE"}]}}}]',
        "application/json",
        {},
        422,
        "'MAYBE'",
    ),
    ("wrong content type", b"hello", "text/plain", {}, 415, "text/plain"),
    ("no content type", b"hello", "", {}, 415, "content type"),
    ("bad on_conflict", b"external_id,text\n1,a\n", "text/csv", {"on_conflict": "merge"}, 422, "on_conflict"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "params", "status", "needle"),
    [b[1:] for b in BAD_UPLOADS],
    ids=[b[0] for b in BAD_UPLOADS],
)
def test_bad_import_is_refused_and_nothing_written(
    alice: Any,
    project_id: int,
    raw: httpx.Client,
    error_shape: Callable[..., Any],
    body: bytes,
    content_type: str,
    params: dict[str, str],
    status: int,
    needle: str,
) -> None:
    alice.client.import_assets(project_id, [{"external_id": "existing", "content": "kept"}])
    headers = {"X-API-Key": alice.token}
    if content_type:
        headers["Content-Type"] = content_type
    r = raw.post(f"/api/v1/projects/{project_id}/assets", content=body, params=params, headers=headers)
    err = error_shape(r, status)
    assert needle.lower() in err["message"].lower(), err["message"]
    assert _n_assets(alice, project_id) == 1


def test_too_large_upload_is_413(
    alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    # The test app's limit is 2,000,000 bytes.
    body = b"external_id,text\n" + b"".join(b"%d,%s\n" % (i, b"x" * 100) for i in range(20_000))
    assert len(body) > 2_000_000
    r = raw.post(
        f"/api/v1/projects/{project_id}/assets",
        content=body,
        headers={"X-API-Key": alice.token, "Content-Type": "text/csv"},
    )
    err = error_shape(r, 413, "payload_too_large")
    assert "PRELABEL_MAX_UPLOAD_BYTES" in err["message"]

    def chunked() -> Any:  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    r = raw.post(
        f"/api/v1/projects/{project_id}/assets",
        content=chunked(),
        headers={"X-API-Key": alice.token, "Content-Type": "text/csv"},
    )
    error_shape(r, 413, "payload_too_large")
    assert _n_assets(alice, project_id) == 0


def test_import_needs_project_admin(alice: Any, make_user: Callable[..., Any], project_id: int) -> None:
    bob = make_user("bob")
    with pytest.raises(NotFoundError):
        bob.client.import_assets(project_id, [{"external_id": "x", "content": "y"}])
    alice.client.add_member(project_id, "bob", "labeler")
    with pytest.raises(PermissionDeniedError):
        bob.client.import_assets(project_id, [{"external_id": "x", "content": "y"}])
    assert _n_assets(alice, project_id) == 0


def test_keyset_pagination_walks_every_asset_once(alice: Any, project_id: int) -> None:
    c = alice.client
    n = 333
    c.import_assets(project_id, [{"external_id": f"e{i:04d}", "content": f"tweet number {i}"} for i in range(n)])
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = c.list_assets(project_id, after=after, limit=50, include_labels=False)
        seen += [a.id for a in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert pages == 7 and len(seen) == n and seen == sorted(set(seen))
    assert [a.id for a in c.iter_assets(project_id, page_size=64)] == seen

    # Filters combine with the cursor: label every 10th asset and walk the labeled / unlabeled ones.
    for asset_id in seen[::10]:
        c.create_label(project_id, asset_id, {"JOB_0": {"categories": [{"name": "DISASTER"}]}})
    labeled = [a.id for a in c.iter_assets(project_id, page_size=7, labeled=True)]
    unlabeled = [a.id for a in c.iter_assets(project_id, page_size=50, labeled=False)]
    assert labeled == seen[::10] and len(unlabeled) == n - len(labeled)
    assert [a.status for a in c.iter_assets(project_id, status="LABELED")] == ["LABELED"] * len(labeled)
    hits = list(c.iter_assets(project_id, text_contains="NUMBER 33"))
    assert sorted(a.external_id for a in hits) == ["e0033", "e0330", "e0331", "e0332"]
    assert [a.external_id for a in c.iter_assets(project_id, external_ids=["e0001", "e0300"])] == [
        "e0001",
        "e0300",
    ]


def test_bad_listing_parameters(
    alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    h = {"X-API-Key": alice.token}
    base = f"/api/v1/projects/{project_id}/assets"
    assert "limit" in error_shape(raw.get(base, params={"limit": 0}, headers=h), 422)["message"]
    assert "limit" in error_shape(raw.get(base, params={"limit": 5000}, headers=h), 422)["message"]
    assert "cursor" in error_shape(raw.get(base, params={"after": "abc"}, headers=h), 422)["message"].lower()
    assert "status" in error_shape(raw.get(base, params={"status": "DONE"}, headers=h), 422)["message"]


def test_single_asset_and_not_found(alice: Any, project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "a/b c", "content": "slash and space"}])
    asset = c.list_assets(project_id).items[0]
    assert c.get_asset(project_id, asset.id).content == "slash and space"
    assert c.get_asset_by_external_id(project_id, "a/b c").id == asset.id
    other = c.create_project("Other", {"jobs": [{"name": "J", "categories": [{"key": "A"}, {"key": "B"}]}]})
    with pytest.raises(NotFoundError):
        c.get_asset(other.id, asset.id)
    with pytest.raises(NotFoundError):
        c.get_asset(project_id, 999_999)
    with pytest.raises(NotFoundError):
        c.get_asset_by_external_id(project_id, "missing")


def test_invalid_json_body(alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., Any]) -> None:
    r = raw.post(
        f"/api/v1/projects/{project_id}/assets",
        content=b"[{",
        headers={"X-API-Key": alice.token, "Content-Type": "application/json"},
    )
    assert "JSON" in error_shape(r, 422, "invalid_input")["message"]
    assert json.loads(b"[]") == [] and _n_assets(alice, project_id) == 0


def test_multipart_without_a_usable_file(
    alice: Any, project_id: int, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    h = {"X-API-Key": alice.token}
    url = f"/api/v1/projects/{project_id}/assets"
    r = raw.post(url, files={"upload": ("a.csv", b"external_id,text\n1,a\n", "text/csv")}, headers=h)
    assert "'file'" in error_shape(r, 422)["message"]
    r = raw.post(url, files={"file": ("notes.txt", b"hello", "text/plain")}, headers=h)
    assert "format" in error_shape(r, 415, "unsupported_media_type")["message"]
    r = raw.post(
        url,
        files={"file": ("notes.txt", b"external_id,text\n1,a\n", "text/plain")},
        params={"format": "csv"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["created"] == 1


def test_label_and_honeypot_columns_and_filters(alice: Any, project_id: int, tmp_path: Path) -> None:
    c = alice.client
    data = (
        b"id,text,gold,is_gold\n"
        b"1,Forest fire near La Ronge,DISASTER,0\n"
        b"2,I love fruits,,0\n"
        b"3,Flood in the valley,DISASTER,1\n"
    )
    result = c.import_file(
        project_id, data, format="csv", id_column="id", label_column="gold", honeypot_column="is_gold"
    )
    assert (result.created, result.labels_created) == (3, 1)
    assert [a.external_id for a in c.iter_assets(project_id, is_honeypot=True)] == ["3"]
    assert [a.external_id for a in c.iter_assets(project_id, labeled=True)] == ["1"]
    assert c.get_asset_by_external_id(project_id, "1").labels[0].json_response == {
        "JOB_0": {"categories": [{"name": "DISASTER"}]}
    }
    assert list(c.iter_assets(project_id, review_flagged=True)) == []
    out = tmp_path / "export.jsonl"
    assert c.export_to_file(project_id, out) == out.stat().st_size > 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    c.import_file(project_id, b"id,text\n4,=1+2\n", format="csv", id_column="id")
    safe = b"".join(c.export(project_id, format="csv")).decode()  # escaped by default
    plain = b"".join(c.export(project_id, format="csv", escape_formulas=False)).decode()
    assert "\n4,=1+2," in plain and "\n4,'=1+2," in safe
    jsonl = b"".join(c.export(project_id, format="jsonl")).decode()
    assert '"content": "=1+2"' in jsonl  # JSONL is never escaped
    with pytest.raises(InvalidRequestError) as exc:
        c.import_file(project_id, b"id,text,gold\n9,x,MAYBE\n", format="csv", id_column="id", label_column="gold")
    assert "MAYBE" in exc.value.message
