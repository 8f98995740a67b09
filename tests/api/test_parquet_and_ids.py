"""Parquet through the REST API and the SDK (import by content type, file name or format; export by format or
Accept header; DataFrames), id-column detection reported in the response, and a text imported once with ids
made from it and once with its file's ids refused with advice in the API's spelling. The real app in-process
over real databases."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.client import ConflictError, InvalidRequestError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

PARQUET = "application/vnd.apache.parquet"


def _parquet(columns: dict[str, list[Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _tickets(n: int = 5) -> bytes:
    return _parquet({"ticket_id": [f"T-{i}" for i in range(n)], "text": [f"ticket text {i}" for i in range(n)]})


def _n_assets(alice: Any, project_id: int) -> int:
    return int(alice.client.project_stats(project_id).n_assets)


def _auth(alice: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {alice.token}"}


def test_import_a_parquet_file_by_its_name_and_hear_which_id_column(
    alice: Any, project_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "tickets.parquet"
    path.write_bytes(_tickets())
    result = alice.client.import_file(project_id, path)
    assert (result.created, result.id_column, result.id_source) == (5, "ticket_id", "detected")
    assert alice.client.get_asset_by_external_id(project_id, "T-3").content == "ticket text 3"


def test_import_by_content_type_and_multipart(alice: Any, project_id: int, raw: httpx.Client) -> None:
    url = f"/api/v1/projects/{project_id}/assets"
    r = raw.post(url, content=_tickets(2), headers={**_auth(alice), "Content-Type": PARQUET})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and r.json()["id_source"] == "detected"
    data = _parquet({"id": ["m1"], "text": ["from a form"]})
    r = raw.post(url, files={"file": ("upload.parquet", data, "application/octet-stream")}, headers=_auth(alice))
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["id_column"]) == (1, "id")


def test_a_bad_parquet_file_is_a_422_that_says_what_to_do(
    alice: Any, project_id: int, error_shape: Callable[..., Any], raw: httpx.Client
) -> None:
    url = f"/api/v1/projects/{project_id}/assets"
    r = raw.post(url, content=b"id,text\n1,a\n", headers={**_auth(alice), "Content-Type": PARQUET})
    err = error_shape(r, 422)
    assert "not a readable Parquet file" in err["message"] and "to_parquet" in err["message"]
    empty_text = _parquet({"id": ["1", "2"], "text": ["fine", ""]})
    with pytest.raises(InvalidRequestError, match="Parquet row 2: the text column 'text' is empty"):
        alice.client.import_file(project_id, empty_text, format="parquet")
    assert _n_assets(alice, project_id) == 0


def test_export_parquet_by_format_and_by_accept_header(alice: Any, project_id: int, raw: httpx.Client) -> None:
    alice.client.import_file(project_id, _tickets(), format="parquet")
    url = f"/api/v1/projects/{project_id}/export"
    by_format = raw.get(url, params={"format": "parquet"}, headers=_auth(alice))
    by_accept = raw.get(url, headers={**_auth(alice), "Accept": PARQUET})
    for r in (by_format, by_accept):
        assert r.status_code == 200 and r.headers["content-type"] == PARQUET
        assert r.headers["content-disposition"].endswith('.parquet"')
        table = pq.read_table(io.BytesIO(r.content))
        assert sorted(table.column("external_id").to_pylist()) == [f"T-{i}" for i in range(5)]
    assert raw.get(url, headers={**_auth(alice), "Accept": "text/csv"}).headers["content-type"].startswith("text/csv")
    assert raw.get(url, headers=_auth(alice)).headers["content-type"] == "application/x-ndjson"


def test_the_sdk_hands_back_a_dataframe_and_imports_one(alice: Any, project_id: int, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2, 3], "text": ["one", "two", "three"], "lang": ["en", "en", "fr"]})
    result = alice.client.import_dataframe(project_id, frame)
    assert (result.created, result.id_column) == (3, "id")
    out = alice.client.export_dataframe(project_id)
    assert sorted(out["external_id"]) == ["1", "2", "3"] and "label:JOB_0" in out.columns
    assert out.set_index("external_id").loc["3", "json_metadata"] == '{"lang": "fr"}'
    n = alice.client.export_to_file(project_id, tmp_path / "copy.parquet")
    assert n > 0 and pq.read_table(tmp_path / "copy.parquet").num_rows == 3
    assert not (tmp_path / "copy.parquet.part").exists()


def test_the_sdk_says_what_to_install_without_pandas(
    alice: Any, project_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real = importlib.import_module

    def without_pandas(name: str, *args: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_pandas)
    with pytest.raises(ImportError, match="pip install pandas pyarrow"):
        alice.client.export_dataframe(project_id)


def test_ids_then_text_ids_conflict_in_the_apis_spelling(alice: Any, project_id: int) -> None:
    c = alice.client
    texts_only = _parquet({"text": [f"ticket text {i}" for i in range(5)]})
    assert c.import_file(project_id, texts_only, format="parquet").id_source == "text"
    with pytest.raises(ConflictError) as exc:
        c.import_file(project_id, _tickets(), format="parquet")
    assert exc.value.status == 409
    assert "ids_from_text=true" in exc.value.message and "allow_duplicate_texts=true" in exc.value.message
    assert _n_assets(alice, project_id) == 5
    same = c.import_file(project_id, _tickets(), format="parquet", ids_from_text=True, on_conflict="skip")
    assert (same.created, same.skipped, same.id_source) == (0, 5, "text")
    forced = c.import_file(project_id, _tickets(), format="parquet", allow_duplicate_texts=True)
    assert forced.created == 5 and _n_assets(alice, project_id) == 10
    with pytest.raises(ConflictError, match=r"on_conflict=skip .* on_conflict=update"):
        c.import_file(project_id, _tickets(), format="parquet")
