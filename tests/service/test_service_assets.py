from __future__ import annotations

import csv
import io
import json

import pytest
from service_helpers import Team, answer, prediction, records
from sqlalchemy import func, select

from prelabel.domain import AssetStatus
from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from prelabel.service import assets, labels, predictions
from prelabel.service.dto import AssetFilter, AssetIn, PredictionIn
from prelabel.store import tables as t
from prelabel.store.engine import Store


def _counts(store: Store) -> tuple[int, int]:
    with store.transaction(read_only=True) as s:
        return (
            int(s.scalar(select(func.count()).select_from(t.Asset)) or 0),
            int(s.scalar(select(func.count()).select_from(t.Label)) or 0),
        )


def test_import_creates_assets_and_initial_labels(team: Team) -> None:
    recs = [*records(3), AssetIn(external_id="lab", content="labeled", label=answer("DISASTER"))]
    res = assets.import_assets(team.store, team.admin, team.pid, recs)
    assert (res.created, res.updated, res.skipped, res.labels_created) == (4, 0, 0, 1)
    a = assets.get_asset_by_external_id(team.store, team.labeler, team.pid, "lab")
    assert a.status == AssetStatus.LABELED and a.labels[0].json_response == answer("DISASTER")
    assert a.labels[0].author == "alice"
    assert assets.get_asset_by_external_id(team.store, team.labeler, team.pid, "a1").status == AssetStatus.TODO


def test_import_idempotency_error_skip_update(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(3))
    again = [*records(3), AssetIn(external_id="new", content="fresh")]
    with pytest.raises(Conflict, match=r"3 external id\(s\) already exist"):
        assets.import_assets(s, team.admin, team.pid, again)
    assert _counts(s) == (3, 0)
    res = assets.import_assets(s, team.admin, team.pid, again, on_conflict="skip")
    assert (res.created, res.updated, res.skipped) == (1, 0, 3)
    changed = [
        AssetIn(external_id="a0", content="changed", json_metadata={"v": 2}, label=answer("DISASTER")),
        AssetIn(external_id="a1", content="text number 1"),
    ]
    res = assets.import_assets(s, team.admin, team.pid, changed, on_conflict="update")
    assert (res.created, res.updated, res.skipped, res.labels_created) == (0, 2, 0, 1)
    a0 = assets.get_asset_by_external_id(s, team.admin, team.pid, "a0")
    assert a0.content == "changed" and a0.json_metadata == {"v": 2} and a0.status == AssetStatus.LABELED
    # Re-importing the same labeled record does not duplicate its label.
    res = assets.import_assets(s, team.admin, team.pid, changed, on_conflict="update")
    assert res.labels_created == 0 and _counts(s) == (4, 1)


BAD_RECORDS = [
    ([AssetIn(external_id="x", content="a"), AssetIn(external_id="x", content="b")], "appears twice"),
    ([AssetIn(external_id="x", content="a"), AssetIn(external_id="y", content="  ")], "text is empty"),
    ([AssetIn(external_id="", content="a")], "empty external id"),
    ([AssetIn(external_id="x", content="a", label={"JOB_9": {"categories": []}})], "unknown job 'JOB_9'"),
    ([AssetIn(external_id="x", content="a", label=answer("MAYBE"))], "unknown category 'MAYBE'"),
    (
        [AssetIn(external_id="x", content="a", is_honeypot=True, honeypot_response=answer("NOPE"))],
        "record 6 .* unknown category 'NOPE'",
    ),
    ([], "empty"),
]


def test_bad_records_are_refused_and_nothing_is_written(team: Team) -> None:
    for recs, message in BAD_RECORDS:
        with pytest.raises(InvalidInput, match=message):
            assets.import_assets(team.store, team.admin, team.pid, [*records(5), *recs] if recs else [])
        assert _counts(team.store) == (0, 0)


def test_only_admins_import_and_delete(team: Team) -> None:
    with pytest.raises(PermissionDenied):
        assets.import_assets(team.store, team.labeler, team.pid, records(2))
    with pytest.raises(NotFound):
        assets.import_assets(team.store, team.outsider, team.pid, records(2))
    assets.import_assets(team.store, team.admin, team.pid, records(4))
    with pytest.raises(PermissionDenied):
        assets.delete_assets(team.store, team.reviewer, team.pid, external_ids=["a0"])
    with pytest.raises(NotFound, match="a9"):
        assets.delete_assets(team.store, team.admin, team.pid, external_ids=["a0", "a9"])
    assert _counts(team.store)[0] == 4
    assert assets.delete_assets(team.store, team.admin, team.pid, external_ids=["a0", "a1"]) == 2
    left = assets.list_assets(team.store, team.admin, team.pid).items
    assert [a.external_id for a in left] == ["a2", "a3"]


def _walk(team: Team, filt: AssetFilter | None, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = assets.list_assets(team.store, team.labeler, team.pid, filt, after=cursor, limit=limit)
        seen += [a.external_id for a in page.items]
        assert len(page.items) <= limit
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_keyset_pagination_walks_every_row_with_filters(team: Team) -> None:
    s = team.store
    recs = [
        AssetIn(
            external_id=f"e{i:03d}",
            content=f"{'FIRE' if i % 3 == 0 else 'calm'} 100% sure_{i}",
            is_honeypot=i % 10 == 0,
        )
        for i in range(57)
    ]
    assets.import_assets(s, team.admin, team.pid, recs)
    ids = {a.external_id: a.id for a in assets.iter_assets(s, team.pid)}
    assert len(ids) == 57
    for i in range(0, 57, 4):
        labels.create_label(s, team.labeler, team.pid, ids[f"e{i:03d}"], json_response=answer("DISASTER"))
    pushed = predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [PredictionIn(external_id=f"e{i:03d}", json_response=prediction("DISASTER", 0.9)) for i in range(0, 57, 5)],
        model_name="m",
    )
    mv = predictions.list_predictions(s, team.admin, team.pid, limit=1)[0].model_version_id

    everything = _walk(team, None, 10)
    assert everything == sorted(ids) and len(everything) == 57
    assert _walk(team, AssetFilter(labeled=True), 4) == [f"e{i:03d}" for i in range(0, 57, 4)]
    assert len(_walk(team, AssetFilter(labeled=False), 7)) == 57 - 15
    assert _walk(team, AssetFilter(predicted=True), 3) == [f"e{i:03d}" for i in range(0, 57, 5)] and pushed == 12
    assert _walk(team, AssetFilter(model_version_id=mv), 100) == [f"e{i:03d}" for i in range(0, 57, 5)]
    assert len(_walk(team, AssetFilter(predicted=False, labeled=False), 5)) == 57 - len(
        {i for i in range(57) if i % 4 == 0 or i % 5 == 0}
    )
    assert _walk(team, AssetFilter(status=AssetStatus.LABELED), 6) == [f"e{i:03d}" for i in range(0, 57, 4)]
    assert _walk(team, AssetFilter(is_honeypot=True), 2) == [f"e{i:03d}" for i in range(0, 57, 10)]
    assert _walk(team, AssetFilter(text_contains="fire"), 5) == [f"e{i:03d}" for i in range(0, 57, 3)]
    # LIKE wildcards are matched literally.
    assert _walk(team, AssetFilter(text_contains="100%"), 50) == everything
    assert _walk(team, AssetFilter(text_contains="sure_1"), 50) == [
        e for e in everything if f"sure_{int(e[1:])}".startswith("sure_1")
    ]
    assert _walk(team, AssetFilter(external_ids=["e001", "e050", "zzz"]), 1) == ["e001", "e050"]
    assert assets.count_assets(s, team.labeler, team.pid, AssetFilter(labeled=True, predicted=True)) == 3
    with pytest.raises(InvalidInput, match="Invalid cursor"):
        assets.list_assets(s, team.labeler, team.pid, after="abc")
    with pytest.raises(InvalidInput, match="limit"):
        assets.list_assets(s, team.labeler, team.pid, limit=0)


def test_list_assets_carries_labels_newest_first_and_the_current_prediction(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(2))
    a0 = assets.get_asset_by_external_id(s, team.admin, team.pid, "a0")
    labels.create_label(s, team.labeler, team.pid, a0.id, json_response=answer("DISASTER"))
    labels.create_label(s, team.reviewer, team.pid, a0.id, json_response=answer("NOT_DISASTER"), label_type="REVIEW")
    predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [PredictionIn(asset_id=a0.id, json_response=prediction("DISASTER", 0.8))],
        model_name="m",
    )
    page = assets.list_assets(s, team.labeler, team.pid)
    first = page.items[0]
    assert [lb.label_type for lb in first.labels] == ["REVIEW", "DEFAULT"]
    assert first.current_prediction is not None and first.current_prediction.model_name == "m-1"
    assert page.items[1].labels == [] and page.items[1].current_prediction is None
    bare = assets.list_assets(s, team.labeler, team.pid, include_labels=False, include_prediction=False)
    assert bare.items[0].labels == [] and bare.items[0].current_prediction is None
    with pytest.raises(NotFound):
        assets.get_asset(s, team.labeler, team.pid, 10**9)


def test_export_streams_csv_and_jsonl_with_labels_and_predictions(team: Team) -> None:
    s = team.store
    recs = [
        *records(3),
        AssetIn(external_id="q", content='comma, "quote"\nnewline', json_metadata={"k": "é"}),
    ]
    assets.import_assets(s, team.admin, team.pid, recs)
    a0 = assets.get_asset_by_external_id(s, team.admin, team.pid, "a0")
    labels.create_label(s, team.labeler, team.pid, a0.id, json_response=answer("DISASTER"))
    predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [PredictionIn(external_id="a1", json_response=prediction("NOT_DISASTER", 0.75))],
        model_name="m",
    )
    lines = b"".join(assets.export_assets(s, team.labeler, team.pid, "jsonl")).decode().splitlines()
    objs = {o["external_id"]: o for o in map(json.loads, lines)}
    assert set(objs) == {"a0", "a1", "a2", "q"}
    assert objs["a0"]["label"] == answer("DISASTER") and objs["a0"]["labels"][0]["author"] == "leo"
    assert objs["a1"]["current_prediction"]["model"] == "m-1" and objs["a1"]["label"] is None
    assert objs["q"]["content"] == 'comma, "quote"\nnewline' and objs["q"]["json_metadata"] == {"k": "é"}

    text = b"".join(assets.export_assets(s, team.labeler, team.pid, "csv")).decode()
    rows = {r["external_id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert rows["a0"]["label:JOB_0"] == "DISASTER" and rows["a0"]["label_author"] == "leo"
    assert rows["a1"]["prediction:JOB_0"] == "NOT_DISASTER" and rows["a1"]["probability:JOB_0"] == "0.7500"
    assert rows["q"]["content"] == 'comma, "quote"\nnewline'
    with pytest.raises(NotFound):
        assets.export_assets(s, team.outsider, team.pid, "csv")
    with pytest.raises(InvalidInput):
        assets.export_assets(s, team.admin, team.pid, "xlsx")  # type: ignore[arg-type]


def test_csv_export_escapes_formulas_for_spreadsheets(team: Team) -> None:
    s = team.store
    texts = {"f": "=HYPERLINK(\"http://x\")", "p": "+1 call now", "m": "-5 degrees", "at": "@user hi",
             "t": "\tindented", "ok": "plain text = fine"}
    assets.import_assets(s, team.admin, team.pid, [AssetIn(external_id=k, content=v) for k, v in texts.items()])
    assets.import_assets(s, team.admin, team.pid, [AssetIn(external_id="=id", content="x")])

    def rows(**kw: bool) -> dict[str, dict[str, str]]:
        text = b"".join(assets.export_assets(s, team.labeler, team.pid, "csv", **kw)).decode()
        return {r["external_id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}

    escaped = rows()  # on by default
    assert escaped["'=id"]["content"] == "x"  # every text cell, the external id too
    assert {k: escaped[k]["content"] for k in texts} == {
        "f": "'=HYPERLINK(\"http://x\")", "p": "'+1 call now", "m": "'-5 degrees", "at": "'@user hi",
        "t": "'\tindented", "ok": "plain text = fine",
    }
    assert escaped["ok"]["json_metadata"] == "{}" and escaped["ok"]["is_honeypot"] == "0"
    raw = rows(escape_formulas=False)
    assert {k: raw[k]["content"] for k in texts} == texts and "=id" in raw
    jsonl = b"".join(assets.export_assets(s, team.labeler, team.pid, "jsonl", escape_formulas=True)).decode()
    assert {json.loads(line)["content"] for line in jsonl.splitlines()} == {*texts.values(), "x"}  # never escaped


def test_iter_assets_walks_chunks(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, records(25))
    got = list(assets.iter_assets(team.store, team.pid, chunk=4))
    assert len(got) == 25 and len({a.id for a in got}) == 25
    assert [a.id for a in got] == sorted(a.id for a in got)
