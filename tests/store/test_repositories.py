"""The repositories' dialect-specific parts on every backend: bulk insert, the upsert, current predictions."""

from __future__ import annotations

from sqlalchemy import select, text

from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Store


def _project(store: Store) -> int:
    with store.transaction() as s:
        p = t.Project(title="p", interface={"jobs": []}, settings={})
        s.add(p)
        s.flush()
        return p.id


def test_insert_rows_fills_python_defaults_and_stores_none_as_sql_null(store: Store) -> None:
    pid = _project(store)
    rows = [
        {"project_id": pid, "external_id": f"x{i}", "content": f"c{i}", "honeypot_response": None} for i in range(7)
    ]
    with store.transaction() as s:
        assert repo.insert_rows(s, t.Asset, rows, batch=3) == 7
    with store.transaction(read_only=True) as s:
        got = s.execute(select(t.Asset).order_by(t.Asset.id)).scalars().all()
        assert [a.external_id for a in got] == [f"x{i}" for i in range(7)]
        assert all(a.status == "TODO" and a.priority == 0.0 and a.json_metadata == {} for a in got)
        assert all(a.created_at.tzinfo is not None for a in got)
        nulls = s.execute(text("SELECT COUNT(*) FROM assets WHERE honeypot_response IS NULL")).scalar()
        assert nulls == 7


def test_upsert_updates_or_skips_on_conflict(store: Store) -> None:
    pid = _project(store)
    base = [{"project_id": pid, "external_id": f"x{i}", "content": "old", "json_metadata": {"v": 1}} for i in range(4)]
    with store.transaction() as s:
        repo.insert_rows(s, t.Asset, base)
    with store.transaction() as s:
        rows = [
            {"project_id": pid, "external_id": f"x{i}", "content": "new", "json_metadata": {"v": 2}}
            for i in range(2, 6)
        ]
        repo.upsert_rows(s, t.Asset, rows, conflict_cols=["project_id", "external_id"], update_cols=["content"])
    with store.transaction() as s:
        rows = [
            {"project_id": pid, "external_id": f"x{i}", "content": "ignored", "json_metadata": {}} for i in range(7)
        ]
        repo.upsert_rows(s, t.Asset, rows, conflict_cols=["project_id", "external_id"])
    with store.transaction(read_only=True) as s:
        got = {a.external_id: (a.content, a.json_metadata) for a in s.scalars(select(t.Asset))}
    assert got == {
        "x0": ("old", {"v": 1}),
        "x1": ("old", {"v": 1}),
        "x2": ("new", {"v": 1}),  # only `content` is updated
        "x3": ("new", {"v": 1}),
        "x4": ("new", {"v": 2}),
        "x5": ("new", {"v": 2}),
        "x6": ("ignored", {}),
    }


def test_current_predictions_for_a_page_and_as_a_filter(store: Store) -> None:
    pid = _project(store)
    with store.transaction() as s:
        repo.insert_rows(s, t.Asset, [{"project_id": pid, "external_id": f"x{i}", "content": "c"} for i in range(3)])
        ids = list(s.scalars(select(t.Asset.id).order_by(t.Asset.id)))
        mvs = []
        for v in (1, 2, 3):
            mv = t.ModelVersion(project_id=pid, name="m", version=v)
            s.add(mv)
            s.flush()
            mvs.append(mv.id)
        training = t.ModelVersion(project_id=pid, name="m", version=4, status="TRAINING")
        s.add(training)
        s.flush()
        # ids[1] has a prediction of the newest version, but it is still TRAINING: not current yet.
        preds = [(ids[0], mvs[0]), (ids[0], mvs[2]), (ids[1], mvs[1]), (ids[1], mvs[0]), (ids[1], training.id)]
        repo.insert_rows(
            s,
            t.Prediction,
            [
                {
                    "project_id": pid,
                    "asset_id": a,
                    "model_version_id": m,
                    "json_response": {"m": m},
                    "confidence": 0.5,
                }
                for a, m in preds
            ],
        )
    with store.transaction(read_only=True) as s:
        cur = repo.current_predictions(s, ids)
        assert {a: name for a, (_, name) in cur.items()} == {ids[0]: "m-3", ids[1]: "m-2"}
        assert cur[ids[0]][0].json_response == {"m": mvs[2]}
        conds = repo.asset_conditions(pid, model_version_id=training.id)
        assert [r.id for r in repo.asset_page(s, conds)[0]] == ids[1:2]
        conds = repo.asset_conditions(pid, predicted=True)
        assert [r.id for r in repo.asset_page(s, conds)[0]] == ids[:2]
        conds = repo.asset_conditions(pid, model_version_id=mvs[0])
        assert [r.id for r in repo.asset_page(s, conds)[0]] == ids[:2]
        conds = repo.asset_conditions(pid, predicted=False)
        assert [r.id for r in repo.asset_page(s, conds)[0]] == ids[2:]
        assert repo.count_predicted_assets(s, pid) == 2


def test_bulk_writes_round_trip_awkward_text_and_json(store: Store) -> None:
    pid = _project(store)
    texts = ["tab\there", "back\\slash \\N", "new\nline\r\n", "quote \" ' ,;", "emoji \U0001f30d \u202e rtl", "\\."]
    meta = {"k": "v\t\n\\", "nested": {"list": [1, 2.5, None, True]}, "uni": "\u00e9"}
    rows = [
        {"project_id": pid, "external_id": f"x{i}", "content": c, "json_metadata": meta} for i, c in enumerate(texts)
    ]
    with store.transaction() as s:
        repo.insert_rows(s, t.Asset, rows[:3])
        repo.upsert_rows(s, t.Asset, rows, conflict_cols=["project_id", "external_id"], update_cols=["content"])
    with store.transaction(read_only=True) as s:
        got = [(a.content, a.json_metadata) for a in s.scalars(select(t.Asset).order_by(t.Asset.external_id))]
    assert got == [(c, meta) for c in texts]
