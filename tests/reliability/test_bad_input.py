"""Bad input, case by case, on SQLite and PostgreSQL in the same test: each case gets the same 4xx with the same
message on both databases, a message naming what is wrong and how to fix it, and writes nothing (assets, labels,
predictions, model versions, training jobs and projects are counted before and after).

Decisions the cases pin down, as docs/how-to/import-your-data.md promises them: files are UTF-8 (a byte-order
mark is accepted and is not part of the first column's name; latin-1 bytes are refused, naming the encoding and
the line); control characters other than NUL (U+0001 to U+001F) are kept as sent, everywhere, as both databases
store them alike; a CSV value is text, so "NaN" in a CSV file is the string "NaN"; a 10 MB text is an ordinary text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bad_input_helpers import UPLOAD_LIMIT, Env, envs_for, own_postgres_database, truncated

from api.conftest import assert_error_shape

MAX_ID = 2**63 - 1
PAST_64 = str(2**63)
PAST_32 = 2**31
DEEP = 50_000
ANSWER = {"JOB_0": {"categories": [{"name": "DISASTER"}]}}
GUESS = {"JOB_0": {"categories": [{"name": "DISASTER", "confidence": 80}]}}


PG_ENV = "PRELABEL_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def shared_envs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Env]]:
    """The seeded prelabel on each database this run tests (PostgreSQL with PRELABEL_TEST_POSTGRES_URL), for the
    requests that must write nothing: each checks its own counts before and after, so they can share one."""
    template = request.getfixturevalue("_sqlite_template")
    folder = tmp_path_factory.mktemp("bad-input")
    if not os.environ.get(PG_ENV):
        yield from envs_for(folder, template, None)
        return
    with own_postgres_database(os.environ[PG_ENV]) as url:
        yield from envs_for(folder, template, url)


@pytest.fixture
def envs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Env]]:
    """A fresh seeded prelabel on each database, for the inputs that are kept."""
    pg = truncated(request.getfixturevalue("_postgres_url")) if os.environ.get(PG_ENV) else None
    yield from envs_for(tmp_path, request.getfixturevalue("_sqlite_template"), pg)


# --- requests ---------------------------------------------------------------------------------------------------
Send = Callable[[Env], httpx.Response]


def import_json(body: str | bytes) -> Send:
    """POST a raw JSON body of assets in the API's own shape."""
    return lambda e: e.raw.post(
        f"/api/v1/projects/{e.project_id}/assets",
        headers={**e.headers, "Content-Type": "application/json"},
        content=body,
    )


def import_file(body: bytes, fmt: str, **params: str) -> Send:
    """POST a file's bytes as an import of format `fmt`, with the import's query options."""
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson"}.get(fmt, "application/json")
    return lambda e: e.raw.post(
        f"/api/v1/projects/{e.project_id}/assets",
        params={"format": fmt, **params},
        headers={**e.headers, "Content-Type": media},
        content=body,
    )


def upload(name: str, body: bytes) -> Send:
    """A multipart upload of a file, as the SDK's import_file and browsers send it."""
    return lambda e: e.raw.post(
        f"/api/v1/projects/{e.project_id}/assets", headers=e.headers, files={"file": (name, body)}
    )


def get(path: str, **params: Any) -> Send:
    """GET a path under the project (`{asset}` is its asset's id)."""
    return lambda e: e.raw.get(
        f"/api/v1/projects/{e.project_id}{path}".format(asset=e.asset_id), params=params, headers=e.headers
    )


def post(path: str, body: Any = None, *, raw: bytes | None = None) -> Send:
    """POST JSON (or raw bytes declared as JSON) to a path under the project (`{asset}` is its asset's id)."""

    def send(e: Env) -> httpx.Response:
        url = f"/api/v1/projects/{e.project_id}{path}".format(asset=e.asset_id)
        if raw is not None:
            return e.raw.post(url, headers={**e.headers, "Content-Type": "application/json"}, content=raw)
        return e.raw.post(url, headers=e.headers, json=body)

    return send


def label(response: Any, **fields: Any) -> Send:
    return post("/assets/{asset}/labels", {"json_response": response, **fields})


def prediction(category: dict[str, Any], **fields: Any) -> Send:
    item = {"external_id": "a", "json_response": {"JOB_0": {"categories": [category]}}}
    return post("/predictions", {"items": [item], "model_name": "mine", **fields})


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def jsonl(**record: Any) -> bytes:
    return (json.dumps(record) + "\n").encode()


# --- the table --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    send: Send
    status: int
    words: tuple[str, ...]  # what is wrong and how to fix it, as the message must say it


NUL = ("NUL character (U+0000)", "remove it")
NOT_A_NUMBER = ("not a JSON number", "use null or a finite number")
CASES: dict[str, Case] = {
    # NUL characters: PostgreSQL text and jsonb cannot hold them (and cannot compare them)
    "NUL in an asset's text": Case(
        import_json(json.dumps([{"external_id": "b", "content": "fire\x00 alarm"}])),
        422,
        ("record 1 (external id 'b'): the text", *NUL),
    ),
    "NUL in a CSV file's text": Case(
        import_file(b"id,text\n1,fire\x00 alarm\n", "csv"), 422, ("record 1 (external id '1'): the text", *NUL)
    ),
    "NUL in an external id": Case(
        import_json(json.dumps([{"external_id": "b\x00c", "content": "fire"}])),
        422,
        ("Record 1: the external id", *NUL),
    ),
    "NUL in an external id looked up": Case(get("/assets/by-external-id/a%00b"), 422, ("The external id", *NUL)),
    "NUL in a prediction's external id": Case(
        post("/predictions", {"items": [{"external_id": "a\x00", "json_response": GUESS}], "model_name": "mine"}),
        422,
        ("Prediction 1: the external id", *NUL),
    ),
    "NUL in text_contains": Case(get("/assets", text_contains="fire\x00"), 422, ("text_contains", *NUL)),
    "NUL in a member's username": Case(
        post("/members", {"username": "bob\x00", "role": "labeler"}), 422, ("The username", *NUL)
    ),
    # NaN and infinities: not JSON, and jsonb refuses them
    "NaN in json_metadata of a JSON body": Case(
        import_json('[{"external_id": "b", "content": "fire", "json_metadata": {"score": NaN}}]'),
        422,
        ("json_metadata['score'] contains nan", *NOT_A_NUMBER),
    ),
    "NaN in a JSONL file": Case(
        import_file(b'{"id": "b", "text": "fire", "score": NaN}\n', "jsonl"),
        422,
        ("json_metadata['score'] contains nan", *NOT_A_NUMBER),
    ),
    "Infinity in a JSONL file": Case(
        import_file(b'{"id": "b", "text": "fire", "score": -Infinity}\n', "jsonl"),
        422,
        ("json_metadata['score'] contains -inf", *NOT_A_NUMBER),
    ),
    "Infinity in an uploaded JSON file": Case(
        upload("tweets.json", b'[{"id": "b", "text": "fire", "score": Infinity}]'),
        422,
        ("json_metadata['score'] contains inf", *NOT_A_NUMBER),
    ),
    "NaN as a prediction's confidence": Case(
        post(
            "/predictions",
            raw=b'{"items": [{"external_id": "a", "json_response": {"JOB_0": {"categories": '
            b'[{"name": "DISASTER", "confidence": NaN}]}}}], "model_name": "mine"}',
        ),
        422,
        ("contains nan", *NOT_A_NUMBER),
    ),
    # ids beyond the id columns (BIGINT): refused before any query, naming the parameter
    "project id past 2**63-1 in a path": Case(
        lambda e: e.raw.get(f"/api/v1/projects/{PAST_64}", headers=e.headers),
        422,
        (f"project_id must be an id between 1 and {MAX_ID}", f"got {PAST_64}"),
    ),
    "asset id past 2**63-1 in a path": Case(
        post(f"/assets/{PAST_64}/labels", {"json_response": ANSWER}),
        422,
        (f"asset_id must be an id between 1 and {MAX_ID}",),
    ),
    "asset id past 2**63-1 in a query": Case(
        get("/labels", asset_id=PAST_64), 422, (f"asset_id must be an id between 1 and {MAX_ID}",)
    ),
    "model version id past 2**63-1 in a query": Case(
        get("/assets", model_version_id=PAST_64), 422, (f"model_version_id must be an id between 1 and {MAX_ID}",)
    ),
    "label id past 2**63-1 as after": Case(
        get("/labels", after=PAST_64), 422, ("after must be the last id (or next_cursor) of the previous page",)
    ),
    "prediction id past 2**63-1 as after": Case(
        get("/predictions", after=PAST_64), 422, ("after must be the last id", f"between 0 and {MAX_ID}")
    ),
    "asset cursor past 2**63-1": Case(
        get("/assets", after=PAST_64), 422, ("after must be the last id (or next_cursor) of the previous page",)
    ),
    "model version id past 2**63-1 in a label": Case(
        label(ANSWER, model_version_id=2**63),
        422,
        ("body model_version_id", f"less than or equal to {MAX_ID}"),
    ),
    "model version id past 2**63-1 in a predictions push": Case(
        post("/predictions", {"items": [{"external_id": "a", "json_response": GUESS}], "model_version_id": 2**63}),
        422,
        ("body model_version_id", f"less than or equal to {MAX_ID}"),
    ),
    "asset id past 2**63-1 in a prediction": Case(
        post("/predictions", {"items": [{"asset_id": 2**63, "json_response": GUESS}], "model_name": "mine"}),
        422,
        ("body items.0.asset_id", f"less than or equal to {MAX_ID}"),
    ),
    # ids past 32 bits are ordinary 64-bit ids that no row has
    "asset id past 2**31 in a path": Case(
        post(f"/assets/{PAST_32}/labels", {"json_response": ANSWER}),
        404,
        (f"Asset {PAST_32} not found in project",),
    ),
    "training job id past 2**31 in a path": Case(
        get(f"/training/jobs/{PAST_32}"), 404, (f"Training job {PAST_32} not found in project",)
    ),
    "model version id past 2**31 in a label": Case(
        label(ANSWER, model_version_id=PAST_32), 422, (f"Model version {PAST_32} does not belong to project",)
    ),
    "asset id past 2**31 in a prediction": Case(
        post("/predictions", {"items": [{"asset_id": PAST_32, "json_response": GUESS}], "model_name": "mine"}),
        422,
        ("name assets that are not in project", f"[{PAST_32}]", "nothing was stored"),
    ),
    # nesting: deeper than the parsers' stacks, or than responses can be serialised
    "a JSONL line nested 50,000 deep": Case(
        import_file(b'{"id": "d", "text": "deep", "m": ' + nested(DEEP) + b"}\n", "jsonl"),
        422,
        ("JSONL line 1 is nested too deeply",),
    ),
    "a JSONL line nested 900 deep": Case(
        import_file(b'{"id": "d", "text": "deep", "m": ' + nested(900) + b"}\n", "jsonl"),
        422,
        ("json_metadata is nested more than 100 levels deep", "flatten it"),
    ),
    "a JSON body of assets nested 50,000 deep": Case(
        import_json(b'[{"external_id": "d", "content": "deep", "json_metadata": {"m": ' + nested(DEEP) + b"}}]"),
        422,
        ("The body is not valid JSON", "recursion limit exceeded"),
    ),
    "a JSON body of a label nested 50,000 deep": Case(
        post("/assets/{asset}/labels", raw=b'{"json_response": {"JOB_0": ' + nested(DEEP) + b"}}"),
        400,
        ("JSON nested too deeply", "nested a few levels at most"),
    ),
    "a JSON file nested 50,000 deep": Case(
        upload("deep.json", b'[{"id": "d", "text": "deep", "m": ' + nested(DEEP) + b"}]"),
        422,
        ("The JSON file is nested too deeply",),
    ),
    "a Label Studio file nested 50,000 deep": Case(
        import_file(b'[{"id": 1, "data": {"text": "deep", "m": ' + nested(DEEP) + b"}}]", "label-studio"),
        422,
        ("nested too deeply", "import the JSON file Label Studio exports"),
    ),
    # malformed files
    "a CSV file with an unterminated quote": Case(
        import_file(b'id,text\n1,"fire\n2,flood\n', "csv"),
        422,
        ("Malformed CSV near line 3", "unexpected end of data", "Check the quoting"),
    ),
    "a CSV file in latin-1": Case(
        upload("tweets.csv", "id,text\n1,caf\u00e9 on fire\n".encode("latin-1")),
        422,
        ("not UTF-8 text", "byte 0xe9 at line 2", "Save it as UTF-8"),
    ),
    "an empty text in a CSV file": Case(
        import_file(b"id,text\n1,fire\n2,  \n", "csv"),
        422,
        ("CSV row 2 (line 3): the text column 'text' is empty", "give every row a text"),
    ),
    "an empty text in a JSON body": Case(
        import_json(json.dumps([{"external_id": "b", "content": ""}])),
        422,
        ("record 1 (external id 'b'): the text is empty", "give every asset a text"),
    ),
    "a file without the text column": Case(
        import_file(b"id,body\n1,fire\n", "csv"),
        422,
        ("Missing column(s) ['text']", "the file has ['body', 'id']", "text_column"),
    ),
    "an external id twice in one file": Case(
        import_file(b"id,text\n7,fire\n7,flood\n", "csv"),
        422,
        ("CSV row 2 (line 3): external id '7' was already used at CSV row 1", "must be unique", "id_column"),
    ),
    "an external id twice in one JSON body": Case(
        import_json(json.dumps([{"external_id": "b", "content": "x"}, {"external_id": "b", "content": "y"}])),
        422,
        ("external id 'b' appears twice in this import (records 1 and 2)", "must be unique"),
    ),
    # labels and predictions that do not fit the interface
    "an unknown category in a label": Case(
        label({"JOB_0": {"categories": [{"name": "FIRE"}]}}),
        422,
        ("unknown category 'FIRE' for job 'JOB_0'", "expected one of ['DISASTER', 'NOT_DISASTER']"),
    ),
    "an unknown category in an imported label": Case(
        import_file(b"id,text,label\n1,fire,FIRE\n", "csv", label_column="label"),
        422,
        ("record 1 (external id '1')", "unknown category 'FIRE'", "expected one of"),
    ),
    "two categories on a single-choice job": Case(
        label({"JOB_0": {"categories": [{"name": "DISASTER"}, {"name": "NOT_DISASTER"}]}}),
        422,
        ("job 'JOB_0' is single-choice but got 2 categories",),
    ),
    "a prediction's confidence of 150": Case(
        prediction({"name": "DISASTER", "confidence": 150}),
        422,
        ("confidence of 'DISASTER' in job 'JOB_0' must be a number from 0 to 100; got 150",),
    ),
    "a prediction's confidence of -1": Case(
        prediction({"name": "DISASTER", "confidence": -1}),
        422,
        ("confidence of 'DISASTER' in job 'JOB_0' must be a number from 0 to 100; got -1",),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_the_same_clear_4xx_and_writes_nothing(name: str, shared_envs: list[Env]) -> None:
    case = CASES[name]
    answers: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for env in shared_envs:
        before, title = env.counts(), env.project_title()
        err = assert_error_shape(case.send(env), case.status)
        missing = [w for w in case.words if w not in err["message"]]
        assert missing == [], (env.backend, err["message"])
        assert env.counts() == before, env.backend
        assert env.project_title() == title
        answers[env.backend] = (err["code"], err["message"], err["details"])
    assert len(set(map(repr, answers.values()))) == 1, answers


# --- inputs that are kept ---------------------------------------------------------------------------------------
def _asset(env: Env, external_id: str) -> dict[str, Any]:
    r = env.raw.get(f"/api/v1/projects/{env.project_id}/assets", params={"external_id": external_id},
                    headers=env.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    assert len(items) == 1, items
    return items[0]


def _kept(asset: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    return asset["external_id"], asset["content"], asset["json_metadata"]


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        ("\ufeffnote,external_id,text\nfirst,b,fire\n", "csv"),
        ('\ufeff"note","external_id","text"\nfirst,b,fire\n', "csv"),
        ('\ufeff{"note": "first", "external_id": "b", "text": "fire"}\n', "jsonl"),
    ],
    ids=["CSV", "CSV with quoted names", "JSONL"],
)
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(body: str, fmt: str, envs: list[Env]) -> None:
    for env in envs:
        r = import_file(body.encode("utf-8"), fmt)(env)
        assert r.status_code == 200, r.text
        assert r.json()["id_column"] == "external_id"
        assert _kept(_asset(env, "b")) == ("b", "fire", {"note": "first"})


CONTROL = "".join(chr(c) for c in range(1, 32))  # every control character but NUL, tab and newline included


def test_control_characters_are_kept_as_sent_on_both_databases(envs: list[Env]) -> None:
    record = {
        "external_id": f"ctl{CONTROL}id",
        "content": f"bell{CONTROL}end",
        "json_metadata": {f"k{CONTROL}": CONTROL},
    }
    seen = []
    for env in envs:
        r = import_json(json.dumps([record]))(env)
        assert r.status_code == 200, r.text
        asset = _asset(env, record["external_id"])
        assert _kept(asset) == (record["external_id"], record["content"], record["json_metadata"])
        found = get("/assets", text_contains="\x07\x08")(env).json()["items"]
        assert [a["external_id"] for a in found] == [record["external_id"]]
        seen.append(_kept(asset))
    assert all(s == seen[0] for s in seen)


def test_nan_in_a_csv_file_is_the_text_nan(envs: list[Env]) -> None:
    for env in envs:
        r = import_file(b"id,text,score\nb,fire,NaN\nc,flood,Infinity\n", "csv")(env)
        assert r.status_code == 200, r.text
        assert _asset(env, "b")["json_metadata"] == {"score": "NaN"}
        assert _asset(env, "c")["json_metadata"] == {"score": "Infinity"}


def test_a_10_mb_text_is_stored_whole(envs: list[Env]) -> None:
    text = "".join(f"word{i} " for i in range(1_300_000))[:10_000_000]
    for env in envs:
        r = import_json(json.dumps([{"external_id": "big", "content": text}]))(env)
        assert r.status_code == 200, r.text
        assert _asset(env, "big")["content"] == text


def test_ids_past_32_bits_in_queries_find_nothing_on_both_databases(envs: list[Env]) -> None:
    for env in envs:
        assert get("/labels", asset_id=PAST_32)(env).json() == []
        assert get("/predictions", model_version_id=PAST_32, after=PAST_32)(env).json() == []
        assert get("/assets", model_version_id=PAST_32)(env).json()["items"] == []
        assert get("/assets", after=PAST_32)(env).json() == {"items": [], "next_cursor": None}


SAFE_DISPOSITION = re.compile(r'attachment; filename="project-[0-9]+\.(csv|jsonl|parquet|json)"')


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "label-studio"])
def test_export_file_names_never_come_from_the_caller(fmt: str, envs: list[Env]) -> None:
    """A project named like a path, an asset id like a path and a file name asked for in the query: the download
    is still named project-<id>.<suffix>."""
    for env in envs:
        traversal = "../../etc/passwd"
        patched = env.raw.patch(f"/api/v1/projects/{env.project_id}", json={"title": traversal}, headers=env.headers)
        assert patched.status_code == 200, patched.text
        assert import_json(json.dumps([{"external_id": traversal, "content": "x"}]))(env).status_code == 200
        r = get("/export", format=fmt, filename=traversal, name=traversal)(env)
        assert r.status_code == 200, r.text
        assert SAFE_DISPOSITION.fullmatch(r.headers["content-disposition"]), r.headers["content-disposition"]
        assert f"project-{env.project_id}." in r.headers["content-disposition"]


# --- a 200 MB upload -----------------------------------------------------------------------------------------------
CHUNK = 1 << 20
UPLOAD = 200_000_000


@dataclass
class Body:
    """A 200 MB request body made on demand, counting how much of it the server pulled."""

    first: bytes
    sent: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        self.sent = len(self.first)
        yield self.first
        filler = b"x" * CHUNK
        while self.sent < UPLOAD:
            self.sent += CHUNK
            yield filler


def _stream(env: Env, content_type: str, declared: bool) -> tuple[httpx.Response, int]:
    body = Body(b'[{"external_id": "b", "content": "' if "json" in content_type else b"id,text\n1,")
    headers = {**env.headers, "Content-Type": content_type}
    if declared:
        headers["Content-Length"] = str(UPLOAD)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            url = f"/api/v1/projects/{env.project_id}/assets"
            return await client.post(url, headers=headers, content=body.chunks())

    return asyncio.run(send()), body.sent


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("declared", [True, False], ids=["with Content-Length", "chunked"])
def test_a_200_mb_upload_gets_413_before_it_is_read(content_type: str, declared: bool, shared_envs: list[Env]) -> None:
    messages = set()
    for env in shared_envs:
        before = env.counts()
        response, pulled = _stream(env, content_type, declared)
        err = assert_error_shape(response, 413, "payload_too_large")
        assert f"larger than the server's limit of {UPLOAD_LIMIT:,} bytes" in err["message"]
        assert "PRELABEL_MAX_UPLOAD_BYTES" in err["message"]
        # the server stops reading at the limit (a declared length: before the first byte)
        assert pulled == 0 if declared else pulled <= UPLOAD_LIMIT + CHUNK, pulled
        assert env.counts() == before
        messages.add(err["message"])
    assert len(messages) == 1, messages
