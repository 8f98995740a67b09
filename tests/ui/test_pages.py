"""Server-side tests of the browser UI against the real app (`create_app`) and real databases: login, CSRF,
permissions of every view, the labeling round trip, undo, review, import and the dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from prelabel.domain import AssetStatus, LabelType
from prelabel.service.assets import get_asset_by_external_id, import_assets
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.service.models import create_model_version, finish_model_version
from prelabel.service.predictions import create_predictions
from prelabel.store import tables as t

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ASSET_ID_RE = re.compile(r'name="asset_id" value="(\d+)"')


def csrf(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m is not None
    return m.group(1)


def count(world: Any, table: Any, *where: Any) -> int:
    with world.store.transaction(read_only=True) as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def model_jobs(world: Any, *where: Any) -> int:
    """Training jobs that would make a model (the import's own prepare job trains nothing)."""
    return count(world, t.TrainingJob, t.TrainingJob.tier != "prepare", *where)


def shown_asset(page: str) -> int:
    m = ASSET_ID_RE.search(page)
    assert m is not None, "no asset on the labeling page"
    return int(m.group(1))


# --- login ----------------------------------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_login(app_client: TestClient, world: Any) -> None:
    for path in (
        "/",
        f"/projects/{world.project_id}",
        f"/projects/{world.project_id}/label",
        f"/projects/{world.project_id}/review",
        f"/projects/{world.project_id}/dashboard",
    ):
        r = app_client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=" + path.split("?")[0])


def test_login_failure_says_so_and_sets_no_session(app_client: TestClient, world: Any) -> None:
    page = app_client.get("/login")
    r = app_client.post(
        "/login", data={"username": "leo", "password": "wrong password", "csrf_token": csrf(page.text)}
    )
    assert r.status_code == 401
    assert "Wrong username or password." in r.text
    assert 'value="leo"' in r.text  # the username is kept in the form
    assert app_client.get("/").status_code == 303  # still logged out


def test_login_then_logout(app_client: TestClient, world: Any, login: Callable[..., str]) -> None:
    token = login(app_client, "leo")
    home = app_client.get("/")
    assert "Disaster tweets" in home.text and "Olga" not in home.text
    assert "<strong>30</strong> assets" in home.text and "<strong>0</strong> labeled" in home.text
    r = app_client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert app_client.get("/").status_code == 303


def test_login_redirects_only_to_local_paths(app_client: TestClient, world: Any) -> None:
    page = app_client.get("/login?next=//evil.example/x")
    assert 'value="/"' in page.text
    r = app_client.post(
        "/login",
        data={
            "username": "leo",
            "password": "correct horse battery",
            "next": "https://evil.example/",
            "csrf_token": csrf(page.text),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


# --- CSRF -----------------------------------------------------------------------------------------------
def test_login_without_csrf_is_refused(app_client: TestClient, world: Any) -> None:
    app_client.get("/login")
    r = app_client.post("/login", data={"username": "leo", "password": "correct horse battery"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert app_client.get("/").status_code == 303


def test_posts_without_or_with_a_wrong_csrf_token_write_nothing(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "alice")
    pid = world.project_id
    asset_id = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    label = {"asset_id": str(asset_id), "job:JOB_0": "DISASTER"}
    for bad in (
        {},
        {"csrf_token": "x" * 43},
        {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")},
    ):
        r = app_client.post(f"/projects/{pid}/label", data={**label, **bad})
        assert r.status_code == 403, bad
        r = app_client.post(f"/projects/{pid}/train", data={"tier": "fast", **bad})
        assert r.status_code == 403
        r = app_client.post(
            f"/projects/{pid}/import", data=bad, files={"file": ("a.csv", b"text\nhello\n", "text/csv")}
        )
        assert r.status_code == 403
    assert count(world, t.Label, t.Label.project_id == pid) == 0
    assert model_jobs(world) == 0
    assert count(world, t.Asset, t.Asset.project_id == pid) == 30
    # the header works as well as the form field (htmx / fetch)
    r = app_client.post(f"/projects/{pid}/label", data=label, headers={"X-CSRF-Token": token})
    assert r.status_code == 303
    assert count(world, t.Label, t.Label.project_id == pid) == 1


def test_another_session_token_is_refused(
    client_factory: Callable[[], TestClient], world: Any, login: Callable[..., str]
) -> None:
    a, b = client_factory(), client_factory()
    token_a = login(a, "alice")
    login(b, "leo")
    asset_id = shown_asset(b.get(f"/projects/{world.project_id}/label").text)
    r = b.post(
        f"/projects/{world.project_id}/label",
        data={"asset_id": str(asset_id), "job:JOB_0": "DISASTER", "csrf_token": token_a},
    )
    assert r.status_code == 403
    assert count(world, t.Label) == 0


# --- permissions -----------------------------------------------------------------------------------------
def test_no_one_sees_another_project(
    client_factory: Callable[[], TestClient], world: Any, login: Callable[..., str]
) -> None:
    olga = client_factory()
    token = login(olga, "olga")
    pid = world.project_id
    for path in (
        f"/projects/{pid}",
        f"/projects/{pid}/label",
        f"/projects/{pid}/review",
        f"/projects/{pid}/dashboard",
        f"/projects/{pid}/dashboard/jobs",
    ):
        r = olga.get(path)
        assert r.status_code == 404, path
        assert "Disaster tweets" not in r.text
    for path, data in (
        (f"/projects/{pid}/train", {"tier": "fast"}),
        (f"/projects/{pid}/label", {"asset_id": "1", "job:JOB_0": "DISASTER"}),
        (f"/projects/{pid}/review/1", {"action": "accept"}),
    ):
        assert olga.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    assert "Disaster tweets" not in olga.get("/").text
    # and the project's admin does not see Olga's project either
    alice = client_factory()
    login(alice, "alice")
    assert alice.get(f"/projects/{world.other_project_id}").status_code == 404
    assert alice.get(f"/projects/{world.other_project_id}/dashboard").status_code == 404
    assert count(world, t.Label) == 0 and model_jobs(world) == 0


def _label_some(world: Any, n: int) -> None:
    from prelabel.service.labels import create_label

    with world.store.transaction(read_only=True) as s:
        ids = list(
            s.scalars(
                select(t.Asset.id).where(t.Asset.project_id == world.project_id).order_by(t.Asset.id).limit(n)
            )
        )
    for i, aid in enumerate(ids):
        create_label(
            world.store,
            world.admin,
            world.project_id,
            aid,
            json_response={"JOB_0": {"categories": [{"name": "DISASTER" if i % 2 else "NOT_DISASTER"}]}},
        )


def test_labeler_cannot_use_review_or_admin_actions(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "leo")
    pid = world.project_id
    _label_some(world, 4)
    dash = app_client.get(f"/projects/{pid}/dashboard")
    assert dash.status_code == 200
    assert "Train now" not in dash.text and f"/projects/{pid}/train" not in dash.text
    assert f'href="/projects/{pid}/review"' not in dash.text
    r = app_client.post(f"/projects/{pid}/train", data={"tier": "fast", "csrf_token": token})
    assert r.status_code == 403
    assert model_jobs(world) == 0
    review = app_client.get(f"/projects/{pid}/review")
    assert review.status_code == 403
    assert "reviewers and admins" in review.text
    some = world.store
    with some.transaction(read_only=True) as s:
        aid = s.scalar(select(t.Label.asset_id).where(t.Label.project_id == pid).limit(1))
    r = app_client.post(f"/projects/{pid}/review/{aid}", data={"action": "accept", "csrf_token": token})
    assert r.status_code == 403
    assert count(world, t.Label, t.Label.label_type == LabelType.REVIEW.value) == 0
    page = app_client.get(f"/projects/{pid}")
    assert "Only the project's admins can import" in page.text
    r = app_client.post(
        f"/projects/{pid}/import",
        data={"csrf_token": token},
        files={"file": ("a.csv", b"text\nhello there\n", "text/csv")},
    )
    assert r.status_code == 403
    assert count(world, t.Asset, t.Asset.project_id == pid) == 30


def test_reviewer_reviews_but_cannot_train(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "rita")
    pid = world.project_id
    assert app_client.get(f"/projects/{pid}/review").status_code == 200
    dash = app_client.get(f"/projects/{pid}/dashboard")
    assert "Train now" not in dash.text
    assert app_client.post(f"/projects/{pid}/train", data={"csrf_token": token}).status_code == 403


def test_admin_trains_now_and_sees_the_job(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "alice")
    pid = world.project_id
    r = app_client.post(f"/projects/{pid}/train", data={"tier": "fast", "csrf_token": token})
    assert r.status_code == 303  # too few labels: a clear message, no job
    page = app_client.get(f"/projects/{pid}/dashboard")
    assert "Label some assets first" in page.text
    assert model_jobs(world) == 0
    _label_some(world, 6)
    r = app_client.post(f"/projects/{pid}/train", data={"tier": "fast", "csrf_token": token})
    assert r.status_code == 303
    page = app_client.get(f"/projects/{pid}/dashboard")
    assert "Training queued" in page.text
    assert model_jobs(world, t.TrainingJob.project_id == pid) == 1
    frag = app_client.get(f"/projects/{pid}/dashboard/jobs", headers={"HX-Request": "true"})
    assert frag.status_code == 200
    assert "queued" in frag.text and 'hx-trigger="every 2s"' in frag.text  # keeps polling while active
    with world.store.transaction() as s:
        s.execute(update(t.TrainingJob).values(status="SUCCEEDED", progress=1.0))
    frag = app_client.get(f"/projects/{pid}/dashboard/jobs?was_active=1", headers={"HX-Request": "true"})
    assert "hx-trigger" not in frag.text and frag.headers.get("HX-Refresh") == "true"


# --- labeling --------------------------------------------------------------------------------------------
def test_label_round_trip_records_time_and_skip_and_undo(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "leo")
    pid = world.project_id
    page = app_client.get(f"/projects/{pid}/label")
    assert page.status_code == 200
    first = shown_asset(page.text)
    assert "No prediction yet" in page.text
    assert "Enter" in page.text and "Esc" in page.text  # the shortcut hint
    assert (
        app_client.get(f"/projects/{pid}/label").text.count(f'value="{first}"') >= 1
    )  # same lease on reload
    r = app_client.post(
        f"/projects/{pid}/label",
        data={"asset_id": str(first), "job:JOB_0": "DISASTER", "seconds": "4.25", "csrf_token": token},
    )
    assert r.status_code == 303
    with world.store.transaction(read_only=True) as s:
        lab = s.scalars(select(t.Label).where(t.Label.asset_id == first)).one()
        assert lab.seconds_to_label == pytest.approx(4.25)
        assert lab.json_response == {"JOB_0": {"categories": [{"name": "DISASTER"}]}}
        assert s.get(t.Asset, first).status == AssetStatus.LABELED.value  # type: ignore[union-attr]
    page = app_client.get(f"/projects/{pid}/label")
    second = shown_asset(page.text)
    assert second != first and "Undo last label" in page.text
    # skip: the next page shows another asset
    r = app_client.post(f"/projects/{pid}/label/skip", data={"asset_id": str(second), "csrf_token": token})
    assert r.status_code == 303
    third = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    assert third not in (first, second)
    # undo the first label: it is removed and the asset comes back
    r = app_client.post(f"/projects/{pid}/label/undo", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/projects/{pid}/label?asset={first}"
    assert count(world, t.Label, t.Label.asset_id == first) == 0
    back = app_client.get(r.headers["location"])
    assert shown_asset(back.text) == first and "Undone" in back.text
    with world.store.transaction(read_only=True) as s:
        assert s.get(t.Asset, first).status == AssetStatus.TODO.value  # type: ignore[union-attr]
    # a second undo has nothing left to undo
    r = app_client.post(f"/projects/{pid}/label/undo", data={"csrf_token": token})
    assert r.status_code == 303
    assert "There is no label of yours to undo here." in app_client.get(f"/projects/{pid}/label").text
    assert count(world, t.Label) == 0


def test_missing_choice_is_refused_with_a_message(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "leo")
    pid = world.project_id
    aid = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    r = app_client.post(f"/projects/{pid}/label", data={"asset_id": str(aid), "csrf_token": token})
    assert r.status_code == 422
    assert "Choose a category for" in r.text and shown_asset(r.text) == aid
    r = app_client.post(
        f"/projects/{pid}/label", data={"asset_id": str(aid), "job:JOB_0": "NOPE", "csrf_token": token}
    )
    assert r.status_code == 422 and "unknown category" in r.text
    assert count(world, t.Label) == 0


def test_prediction_is_preselected_and_its_model_version_recorded(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "leo")
    pid = world.project_id
    aid = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    with world.store.transaction(read_only=True) as s:
        ext = s.get(t.Asset, aid).external_id  # type: ignore[union-attr]
    response = {
        "JOB_0": {
            "categories": [{"name": "NOT_DISASTER", "probability": 0.83}],
            "probabilities": {"DISASTER": 0.17, "NOT_DISASTER": 0.83},
        }
    }
    create_predictions(
        world.store,
        world.admin,
        pid,
        [PredictionIn(external_id=ext, json_response=response)],
        model_name="automl",
    )
    page = app_client.get(f"/projects/{pid}/label").text
    assert shown_asset(page) == aid
    assert re.search(r'value="NOT_DISASTER"\s+checked', page)
    assert not re.search(r'value="DISASTER"\s+checked', page)
    assert "83%" in page and "17%" in page and "automl-1" in page
    mv = re.search(r'name="model_version_id" value="(\d+)"', page)
    assert mv is not None
    # Enter in the browser submits the form as rendered: the preselected choice and the model version
    r = app_client.post(
        f"/projects/{pid}/label",
        data={
            "asset_id": str(aid),
            "job:JOB_0": "NOT_DISASTER",
            "model_version_id": mv.group(1),
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    with world.store.transaction(read_only=True) as s:
        lab = s.scalars(select(t.Label).where(t.Label.asset_id == aid)).one()
        assert lab.model_version_id == int(mv.group(1))
        assert lab.agrees_with_prediction is True
    dash = app_client.get(f"/projects/{pid}/dashboard").text
    assert "100%" in dash and "of 1" in dash  # acceptance of automl-1


def test_uncertain_prediction_is_flagged(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "leo")
    pid = world.project_id
    aid = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    with world.store.transaction(read_only=True) as s:
        ext = s.get(t.Asset, aid).external_id  # type: ignore[union-attr]
    create_predictions(
        world.store,
        world.admin,
        pid,
        [
            PredictionIn(
                external_id=ext,
                json_response={
                    "JOB_0": {
                        "categories": [{"name": "DISASTER", "probability": 0.52}],
                        "probabilities": {"DISASTER": 0.52, "NOT_DISASTER": 0.48},
                    }
                },
            )
        ],
        model_name="automl",
    )
    page = app_client.get(f"/projects/{pid}/label").text
    assert "unsure" in page and "52%" in page and "48%" in page


def test_hostile_text_is_escaped(app_client: TestClient, world: Any, login: Callable[..., str]) -> None:
    login(app_client, "alice")
    pid = world.project_id
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> &amp; \u202eRTL'
    import_assets(
        world.store,
        world.admin,
        pid,
        [AssetIn(external_id="<b>evil</b>", content=evil, json_metadata={"k": "<i>m</i>"})],
    )
    asset = get_asset_by_external_id(world.store, world.admin, pid, "<b>evil</b>")
    page = app_client.get(f"/projects/{pid}/label?asset={asset.id}").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>evil" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&amp;amp;" in page  # entities in tweets are shown as typed, not decoded
    assert "&lt;i&gt;m&lt;/i&gt;" in page


# --- review ----------------------------------------------------------------------------------------------
def test_review_accept_and_correct_write_review_labels(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "rita")
    pid = world.project_id
    _label_some(world, 4)
    with world.store.transaction() as s:
        ids = list(
            s.scalars(
                select(t.Asset.id)
                .where(t.Asset.project_id == pid, t.Asset.status == "LABELED")
                .order_by(t.Asset.id)
                .limit(2)
            )
        )
        s.execute(
            update(t.Asset).where(t.Asset.id.in_(ids)).values(review_reason="label_error", review_score=0.9)
        )
    page = app_client.get(f"/projects/{pid}/review")
    assert page.status_code == 200
    assert page.text.count("Accept label") == 2 and "label error" in page.text
    r = app_client.post(f"/projects/{pid}/review/{ids[0]}", data={"action": "accept", "csrf_token": token})
    assert r.status_code == 303
    r = app_client.post(
        f"/projects/{pid}/review/{ids[1]}",
        data={"action": "correct", "job:JOB_0": "DISASTER", "csrf_token": token},
    )
    assert r.status_code == 303
    with world.store.transaction(read_only=True) as s:
        reviews = {
            lab.asset_id: lab.json_response
            for lab in s.scalars(select(t.Label).where(t.Label.label_type == LabelType.REVIEW.value))
        }
        firsts = {
            lab.asset_id: lab.json_response
            for lab in s.scalars(select(t.Label).where(t.Label.label_type == LabelType.DEFAULT.value))
        }
        statuses = {a: s.get(t.Asset, a).status for a in ids}  # type: ignore[union-attr]
    assert reviews[ids[0]] == firsts[ids[0]]
    assert reviews[ids[1]] == {"JOB_0": {"categories": [{"name": "DISASTER"}]}}
    assert set(statuses.values()) == {AssetStatus.REVIEWED.value}
    assert "Accept label" not in app_client.get(f"/projects/{pid}/review").text


# --- import ----------------------------------------------------------------------------------------------
def test_import_csv_with_column_choice(
    app_client: TestClient, world: Any, login: Callable[..., str], datasets: Any
) -> None:
    token = login(app_client, "alice")
    pid = world.project_id
    lines = (datasets / "disaster_tweets" / "train.csv").read_bytes().split(b"\n")
    head, body = lines[0], [ln for ln in lines[1:] if ln][100:140]
    data = b"\n".join([head, *body]) + b"\n"
    form = {
        "csrf_token": token,
        "text_column": "text",
        "id_column": "id",
        "metadata_columns": "keyword, location",
        "on_conflict": "skip",
    }
    r = app_client.post(
        f"/projects/{pid}/import", data=form, files={"file": ("tweets.csv", data, "text/csv")}
    )
    assert r.status_code == 303, r.text
    page = app_client.get(f"/projects/{pid}").text
    assert "Imported tweets.csv" in page
    created = count(world, t.Asset, t.Asset.project_id == pid) - 30
    assert created > 30 and f"{created} created" in page
    with world.store.transaction(read_only=True) as s:
        meta = s.scalars(
            select(t.Asset.json_metadata)
            .where(t.Asset.project_id == pid)
            .order_by(t.Asset.id.desc())
            .limit(1)
        ).one()
    assert set(meta) == {"keyword", "location"}
    r = app_client.post(
        f"/projects/{pid}/import", data=form, files={"file": ("tweets.csv", data, "text/csv")}
    )
    assert r.status_code == 303
    assert f"0 created, 0 updated, {created} skipped" in app_client.get(f"/projects/{pid}").text


@pytest.mark.parametrize(
    ("data", "fields", "message"),
    [
        (b"text\n\xff\xfe bad bytes\n", {}, "UTF-8"),
        (b"id,body\n1,hello\n", {"text_column": "text"}, "text"),
        (b'text\n"unterminated\n', {}, "row"),
        (b'{"text": "a"}\n{"text": ', {"format": "jsonl"}, "line 2"),
    ],
    ids=["encoding", "missing-column", "malformed-csv", "malformed-jsonl"],
)
def test_bad_imports_show_a_message_and_write_nothing(
    app_client: TestClient,
    world: Any,
    login: Callable[..., str],
    data: bytes,
    fields: dict[str, str],
    message: str,
) -> None:
    token = login(app_client, "alice")
    pid = world.project_id
    r = app_client.post(
        f"/projects/{pid}/import",
        data={"csrf_token": token, **fields},
        files={"file": ("bad.csv", data, "text/csv")},
    )
    assert r.status_code in (400, 415, 422), r.status_code
    assert "Import failed, nothing was imported." in r.text and message in r.text
    assert count(world, t.Asset, t.Asset.project_id == pid) == 30


# --- dashboard -------------------------------------------------------------------------------------------
def test_dashboard_shows_versions_curve_leaderboard_and_people(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "alice")
    pid = world.project_id
    _label_some(world, 6)
    for n, score, tier in ((10, 0.61, "fast"), (20, 0.68, "fast"), (20, 0.72, "search")):
        mv = create_model_version(world.store, pid, tier=tier, n_labels=n)
        board = [{"feature_set": "word", "model": "logreg", "params": {"C": 1.5}, "cv_score": score}]
        finish_model_version(
            world.store,
            mv.id,
            status="READY",
            metrics={
                "cv_score": score,
                "ece": 0.02,
                "timings": {"fit": 1.5, "predict": 0.5},
                "jobs": {
                    "JOB_0": {
                        "metric": "f1",
                        "cv_score": score,
                        "leaderboard": board if tier == "search" else [],
                        "per_class": {
                            "DISASTER": {"precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 9}
                        },
                    }
                },
            },
        )
    page = app_client.get(f"/projects/{pid}/dashboard")
    assert page.status_code == 200
    text = page.text
    for expected in (
        "automl-1",
        "automl-2",
        "automl-3",
        "0.720",
        "<svg",
        "Learning curve",
        "logreg",
        "C=1.5",
        "Train now",
        "alice",
        "2.0 s",
        "0.650",
    ):
        assert expected in text, expected
    assert text.count("<circle") == 3


def test_project_page_counts(app_client: TestClient, world: Any, login: Callable[..., str]) -> None:
    login(app_client, "leo")
    _label_some(world, 5)
    page = app_client.get(f"/projects/{world.project_id}").text
    assert re.search(r"<dt>Assets</dt><dd>30</dd>", page)
    assert re.search(r"<dt>Labeled</dt><dd>5</dd>", page)
    assert "Not a disaster" in page and "Only the project's admins can import" in page


def test_model_status_line_says_when_a_suggestion_arrives(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "leo")
    pid = world.project_id
    page = app_client.get(f"/projects/{pid}/label").text
    aid = shown_asset(page)
    assert "No model yet" in page and 'hx-trigger="every 4s"' in page  # waits for the first model
    url = f"/projects/{pid}/label/model-status?asset={aid}&shown=0"
    frag = app_client.get(url, headers={"HX-Request": "true"}).text
    assert "No model yet" in frag and "every 4s" in frag
    with world.store.transaction(read_only=True) as s:
        ext = s.get(t.Asset, aid).external_id  # type: ignore[union-attr]
    create_predictions(
        world.store,
        world.admin,
        pid,
        [
            PredictionIn(
                external_id=ext,
                json_response={"JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.9}]}},
            )
        ],
        model_name="automl",
    )
    frag = app_client.get(url, headers={"HX-Request": "true"}).text
    assert "automl-1 now has a suggestion" in frag and f"/projects/{pid}/label?asset={aid}" in frag
    assert "hx-trigger" not in frag  # stops polling
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "Suggestions from automl-1" in page and 'hx-trigger="every 4s"' not in page


def test_a_deactivated_user_is_logged_out_at_once(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "leo")
    assert app_client.get(f"/projects/{world.project_id}/label").status_code == 200
    with world.store.transaction() as s:
        s.execute(update(t.User).where(t.User.id == world.labeler.user_id).values(is_active=False))
    r = app_client.get(f"/projects/{world.project_id}/label")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = app_client.get(f"/projects/{world.project_id}/dashboard/jobs", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"


def test_assets_of_another_project_are_not_found(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "alice")
    import_assets(world.store, world.outsider, world.other_project_id,
                  [AssetIn(external_id="secret-1", content="Olga's secret text")])
    with world.store.transaction(read_only=True) as s:
        secret = s.scalar(select(t.Asset.id).where(t.Asset.external_id == "secret-1"))
    pid = world.project_id
    r = app_client.get(f"/projects/{pid}/label?asset={secret}")
    assert r.status_code == 404 and "secret text" not in r.text
    r = app_client.post(f"/projects/{pid}/label",
                        data={"asset_id": str(secret), "job:JOB_0": "DISASTER", "csrf_token": token})
    assert r.status_code == 404
    r = app_client.post(f"/projects/{pid}/review/{secret}", data={"action": "correct", "job:JOB_0": "DISASTER",
                                                                  "csrf_token": token})
    assert r.status_code == 404
    assert count(world, t.Label) == 0


def test_multi_choice_prediction_is_preselected_and_coin_flips_are_flagged(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    from prelabel.service.projects import create_project

    token = login(app_client, "alice")
    interface = {"jobs": [{"name": "topics", "input": "multi", "categories": [
        {"key": "FIRE"}, {"key": "FLOOD"}, {"key": "STORM"}]}]}
    project = create_project(world.store, world.admin, title="Topics", interface=interface)
    import_assets(world.store, world.admin, project.id, [AssetIn(external_id="t1", content="Flooded and burning")])
    probs = {"FIRE": 0.9, "FLOOD": 0.55, "STORM": 0.05}
    create_predictions(world.store, world.admin, project.id, [PredictionIn(external_id="t1", json_response={
        "topics": {"categories": [{"name": "FIRE", "probability": 0.9}, {"name": "FLOOD", "probability": 0.55}],
                   "probabilities": probs}})], model_name="automl")
    page = app_client.get(f"/projects/{project.id}/label").text
    assert 'type="checkbox"' in page
    assert re.search(r'value="FIRE"\s+checked', page) and re.search(r'value="FLOOD"\s+checked', page)
    assert not re.search(r'value="STORM"\s+checked', page)
    assert "unsure" in page and "90%" in page and "55%" in page and "5%" in page
    aid = shown_asset(page)
    mv = re.search(r'name="model_version_id" value="(\d+)"', page)
    assert mv is not None
    r = app_client.post(f"/projects/{project.id}/label", data={
        "asset_id": str(aid), "model_version_id": mv.group(1), "job:topics": ["FIRE"], "csrf_token": token})
    assert r.status_code == 303
    with world.store.transaction(read_only=True) as s:
        lab = s.scalars(select(t.Label).where(t.Label.asset_id == aid)).one()
        assert lab.json_response == {"topics": {"categories": [{"name": "FIRE"}]}}
        assert lab.agrees_with_prediction is False  # the labeler dropped FLOOD


# --- category descriptions, the job's question and the kind of model behind a suggestion ----------------
DESCRIBED_INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "instruction": "Is this tweet about a real disaster?",
            "categories": [
                {
                    "key": "DISASTER",
                    "name": "Disaster",
                    "hotkey": "d",
                    "description": "A tweet about a real disaster, accident or emergency happening now",
                },
                {"key": "NOT_DISASTER", "name": "Not a disaster", "hotkey": "n"},
            ],
        }
    ]
}


def _described_project(world: Any) -> int:
    """The world's project, its interface given a question and a description (it may change at any time)."""
    from prelabel.service.projects import update_project

    update_project(world.store, world.admin, world.project_id, interface=DESCRIBED_INTERFACE)
    return int(world.project_id)


def _ready_version(world: Any, pid: int, *, tier: str, n_labels: int, metrics: dict[str, Any] | None = None) -> int:
    mv = create_model_version(world.store, pid, tier=tier, n_labels=n_labels)
    finish_model_version(world.store, mv.id, status="READY", metrics=metrics or {})
    return mv.id


def _predict(world: Any, pid: int, exts: list[str], mv_id: int, response: dict[str, Any]) -> None:
    create_predictions(
        world.store, world.admin, pid, [PredictionIn(external_id=e, json_response=response) for e in exts],
        model_version_id=mv_id,
    )


def test_labeling_page_shows_the_question_and_each_categorys_description(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "leo")
    pid = _described_project(world)
    page = app_client.get(f"/projects/{pid}/label").text
    assert '<p class="instruction" dir="auto">Is this tweet about a real disaster?</p>' in page
    desc = re.search(r'<span class="choice-desc muted" id="(cat-1-1-desc)" dir="auto">([^<]*)</span>', page)
    assert desc is not None
    assert desc.group(2) == "A tweet about a real disaster, accident or emergency happening now"
    # the radio button is named by the category and described by the description; keys are unchanged
    radio = re.search(r'<input type="radio" name="job:JOB_0" value="DISASTER"[^>]*>', page)
    assert radio is not None
    assert 'data-number="1"' in radio.group(0) and 'data-hotkey="d"' in radio.group(0)
    assert 'aria-labelledby="cat-1-1"' in radio.group(0) and 'aria-describedby="cat-1-1-desc"' in radio.group(0)
    assert '<span class="choice-name" id="cat-1-1">Disaster</span>' in page
    # a category without a description keeps the plain markup
    other = re.search(r'<input type="radio" name="job:JOB_0" value="NOT_DISASTER"[^>]*>', page)
    assert other is not None and "aria-describedby" not in other.group(0)
    assert '<span class="choice-name">Not a disaster</span>' in page
    assert page.count("choice-desc") == 1


def test_a_description_is_escaped(app_client: TestClient, world: Any, login: Callable[..., str]) -> None:
    from prelabel.service.projects import update_project

    login(app_client, "leo")
    doc = json_copy(DESCRIBED_INTERFACE)
    doc["jobs"][0]["categories"][0]["description"] = '<img src=x onerror="alert(1)"> & more'
    update_project(world.store, world.admin, world.project_id, interface=doc)
    page = app_client.get(f"/projects/{world.project_id}/label").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; more" in page


def json_copy(doc: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(doc))


def test_suggestion_says_which_kind_of_model_made_it(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "leo")
    pid = _described_project(world)
    aid = shown_asset(app_client.get(f"/projects/{pid}/label").text)
    with world.store.transaction(read_only=True) as s:
        ext = s.get(t.Asset, aid).external_id  # type: ignore[union-attr]
    response = {"JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.7}],
                          "probabilities": {"DISASTER": 0.7, "NOT_DISASTER": 0.3}}}

    zero = _ready_version(world, pid, tier="zero-shot", n_labels=0)
    _predict(world, pid, [ext], zero, response)
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "The model suggests" in page and "70%" in page
    assert '<span class="model-source" data-tier="zero-shot">Zero-shot suggestion (no labels yet)</span>' in page
    assert "Suggestions from automl-1, a zero-shot model read from the category descriptions." in page
    assert re.search(r'value="DISASTER"\s+checked', page)

    fast = _ready_version(world, pid, tier="fast", n_labels=30, metrics={"cv_score": 0.81})
    _predict(world, pid, [ext], fast, response)
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert '<span class="model-source" data-tier="fast">Suggested by automl-2 (fast model, 30 labels)</span>' in page
    assert "Suggestions from automl-2, a fast model trained on 30 labels" in page

    search = _ready_version(world, pid, tier="search", n_labels=1)
    _predict(world, pid, [ext], search, response)
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "Suggested by automl-3 (search model, 1 label)" in page

    create_predictions(world.store, world.admin, pid, [PredictionIn(external_id=ext, json_response=response)],
                       model_name="mine")
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "Suggested by automl-3 (search model, 1 label)" in page  # a pushed model does not replace the trainer's
    from prelabel.service.projects import update_project

    update_project(world.store, world.admin, pid, settings={"suggestions_from": "external"})
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "Suggested by mine-4 (external model)" in page

    # a newer zero-shot version with no prediction for this text: the one shown is still named right
    _ready_version(world, pid, tier="zero-shot", n_labels=0)
    page = app_client.get(f"/projects/{pid}/label?asset={aid}").text
    assert "Suggested by mine-4 (external model)" in page
    assert "Suggestions from mine-4, an external model" in page  # the version that serves them, not the newest

    # the dashboard lists the zero-shot versions like any other tier
    login(app_client, "alice")
    dash = app_client.get(f"/projects/{pid}/dashboard")
    assert dash.status_code == 200 and "<td>zero-shot</td>" in dash.text


def test_multi_choice_unsure_badge_uses_the_models_own_thresholds(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    from prelabel.service.projects import create_project

    login(app_client, "alice")
    interface = {"jobs": [{"name": "topics", "input": "multi", "categories": [
        {"key": "FIRE"}, {"key": "FLOOD"}, {"key": "STORM"}]}]}
    project = create_project(world.store, world.admin, title="Topics", interface=interface)
    import_assets(world.store, world.admin, project.id, [AssetIn(external_id="t1", content="Flooded and burning")])
    probs = {"FIRE": 0.9, "FLOOD": 0.55, "STORM": 0.05}
    entry = {"categories": [{"name": "FIRE", "probability": 0.9}, {"name": "FLOOD", "probability": 0.55}],
             "probabilities": probs}

    def page_for(job_entry: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
        mv = _ready_version(world, project.id, tier="fast", n_labels=12, metrics=metrics)
        _predict(world, project.id, ["t1"], mv, {"topics": job_entry})
        return app_client.get(f"/projects/{project.id}/label").text

    # no thresholds anywhere: 0.5, and FLOOD at 55 % is a coin flip
    assert "unsure: check carefully" in page_for(entry)
    # the prediction's own thresholds: FLOOD passes its 0.2 easily, STORM is far below its 0.2
    assert "unsure: check carefully" not in page_for({**entry, "thresholds": {"FLOOD": 0.2, "STORM": 0.2}})
    # ... and a threshold of 0.88 makes FIRE at 90 % the close call
    assert "unsure: check carefully" in page_for({**entry, "thresholds": {"FIRE": 0.88, "FLOOD": 0.2}})
    # none in the prediction: the model version's metrics.jobs.<job>.thresholds (a mapping or a list)
    assert "unsure: check carefully" not in page_for(
        entry, {"jobs": {"topics": {"thresholds": {"FLOOD": 0.2}}}}
    )
    assert "unsure: check carefully" not in page_for(
        entry, {"jobs": {"topics": {"categories": ["FIRE", "FLOOD", "STORM"], "thresholds": [0.5, 0.2, 0.5]}}}
    )
    # unusable values fall back to 0.5
    assert "unsure: check carefully" in page_for(entry, {"jobs": {"topics": {"thresholds": {"FLOOD": "low"}}}})


def test_a_zero_shot_model_the_first_labels_disprove_is_switched_off(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    token = login(app_client, "leo")
    pid = _described_project(world)
    with world.store.transaction(read_only=True) as s:
        exts = list(s.scalars(select(t.Asset.external_id).where(t.Asset.project_id == pid)))
    response = {"JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.7}]}}
    zero = _ready_version(world, pid, tier="zero-shot", n_labels=0)
    _predict(world, pid, exts, zero, response)
    # five labels through the page, each answering against the zero-shot suggestion on screen
    for _ in range(5):
        page = app_client.get(f"/projects/{pid}/label").text
        assert "Zero-shot suggestion (no labels yet)" in page
        assert f'name="model_version_id" value="{zero}"' in page
        form = {"asset_id": str(shown_asset(page)), "job:JOB_0": "NOT_DISASTER", "model_version_id": str(zero),
                "csrf_token": token}  # fmt: skip
        assert app_client.post(f"/projects/{pid}/label", data=form).status_code == 303
    page = app_client.get(f"/projects/{pid}/label").text
    assert "The model suggests" not in page and 'name="model_version_id"' not in page
    assert re.search(
        r"No suggestion: the zero-shot model was switched off because\s+its suggestions matched 0 of the first 5 "
        r"labels, no more than always suggesting the most frequent answer \(5\)\.",
        page,
    )
