"""`prelabel.service.analytics` on real databases: acceptance per model version, labeler throughput, honeypot
accuracy, learning curve and class distribution, each against hand-computed expectations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from prelabel.domain import LabelType
from prelabel.errors import NotFound
from prelabel.service import analytics
from prelabel.service.assets import import_assets
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.service.labels import create_label
from prelabel.service.models import create_model_version, finish_model_version
from prelabel.service.predictions import create_predictions
from prelabel.store import tables as t


def answer(key: str) -> dict[str, Any]:
    return {"JOB_0": {"categories": [{"name": key}]}}


def prediction(key: str, p: float) -> dict[str, Any]:
    other = "NOT_DISASTER" if key == "DISASTER" else "DISASTER"
    return {
        "JOB_0": {"categories": [{"name": key, "probability": p}], "probabilities": {key: p, other: 1 - p}}
    }


def asset_ids(world: Any, n: int) -> list[int]:
    with world.store.transaction(read_only=True) as s:
        return list(
            s.scalars(
                select(t.Asset.id).where(t.Asset.project_id == world.project_id).order_by(t.Asset.id).limit(n)
            )
        )


def test_acceptance_per_model_version(world: Any) -> None:
    store, pid = world.store, world.project_id
    ids = asset_ids(world, 6)
    exts = {}
    with store.transaction(read_only=True) as s:
        for aid in ids:
            exts[aid] = s.get(t.Asset, aid).external_id  # type: ignore[union-attr]
    create_predictions(
        store,
        world.admin,
        pid,
        [PredictionIn(external_id=exts[a], json_response=prediction("DISASTER", 0.8)) for a in ids[:3]],
        model_name="automl",
    )
    create_predictions(
        store,
        world.admin,
        pid,
        [PredictionIn(external_id=exts[a], json_response=prediction("NOT_DISASTER", 0.7)) for a in ids[3:]],
        model_name="other",
    )
    v1, _v2 = (mv.model_version_id for mv in analytics.acceptance_by_version(store, world.admin, pid))
    create_label(store, world.labeler, pid, ids[0], json_response=answer("DISASTER"), model_version_id=v1)
    create_label(store, world.labeler, pid, ids[1], json_response=answer("DISASTER"), model_version_id=v1)
    create_label(store, world.labeler, pid, ids[2], json_response=answer("NOT_DISASTER"), model_version_id=v1)
    rows = {r.display_name: r for r in analytics.acceptance_by_version(store, world.labeler, pid)}
    assert (rows["automl-1"].n_seen, rows["automl-1"].n_accepted) == (3, 2)
    assert rows["automl-1"].acceptance_rate == pytest.approx(2 / 3)
    assert rows["other-2"].n_seen == 0 and rows["other-2"].acceptance_rate is None


def test_throughput_counts_labels_reviews_and_active_time(world: Any) -> None:
    store, pid = world.store, world.project_id
    ids = asset_ids(world, 5)
    for aid, secs in zip(ids[:4], (2.0, 4.0, 6.0, 100.0), strict=True):
        create_label(store, world.labeler, pid, aid, json_response=answer("DISASTER"), seconds_to_label=secs)
    create_label(
        store,
        world.reviewer,
        pid,
        ids[0],
        json_response=answer("NOT_DISASTER"),
        label_type=LabelType.REVIEW,
        seconds_to_label=3.0,
    )
    # spread leo's labels over two sessions: 0 s, 60 s, 120 s, then 2 hours later
    with store.transaction() as s:
        labs = list(
            s.scalars(select(t.Label).where(t.Label.author_id == world.labeler.user_id).order_by(t.Label.id))
        )
        base = labs[0].created_at
        for lab, offset in zip(labs, (0, 60, 120, 7200), strict=True):
            s.execute(
                update(t.Label)
                .where(t.Label.id == lab.id)
                .values(created_at=base + timedelta(seconds=offset))
            )
    rows = {r.username: r for r in analytics.labeler_throughput(store, world.admin, pid)}
    leo, rita = rows["leo"], rows["rita"]
    assert (leo.n_labels, leo.n_review_labels) == (4, 0)
    assert (rita.n_labels, rita.n_review_labels) == (0, 1)
    assert leo.median_seconds == pytest.approx(5.0)
    # sessions: 120 s span + 5 s, and a lone label of 5 s
    assert leo.active_hours == pytest.approx(round((125 + 5) / 3600, 3))
    assert leo.labels_per_hour == pytest.approx(4 / (130 / 3600))
    assert leo.last_label_at == base + timedelta(seconds=7200)


def test_honeypot_accuracy_compares_with_the_gold_answer(world: Any) -> None:
    store, pid = world.store, world.project_id
    import_assets(
        store,
        world.admin,
        pid,
        [
            AssetIn(
                external_id="hp-1",
                content="Forest fire near La Ronge",
                is_honeypot=True,
                honeypot_response=answer("DISASTER"),
            ),
            AssetIn(
                external_id="hp-2",
                content="I love fruits",
                is_honeypot=True,
                honeypot_response=answer("NOT_DISASTER"),
            ),
            AssetIn(external_id="hp-3", content="no gold answer", is_honeypot=True),
        ],
    )
    with store.transaction(read_only=True) as s:
        hp = {a.external_id: a.id for a in s.scalars(select(t.Asset).where(t.Asset.is_honeypot.is_(True)))}
    create_label(store, world.labeler, pid, hp["hp-1"], json_response=answer("DISASTER"))
    create_label(store, world.labeler, pid, hp["hp-2"], json_response=answer("DISASTER"))
    create_label(store, world.labeler, pid, hp["hp-3"], json_response=answer("DISASTER"))
    create_label(store, world.reviewer, pid, hp["hp-2"], json_response=answer("NOT_DISASTER"))
    rows = {r.username: r for r in analytics.honeypot_accuracy(store, world.admin, pid)}
    assert (rows["leo"].n_answered, rows["leo"].n_correct, rows["leo"].accuracy) == (2, 1, 0.5)
    assert (rows["rita"].n_answered, rows["rita"].accuracy) == (1, 1.0)


def test_learning_curve_takes_ready_scored_versions_in_order(world: Any) -> None:
    store, pid = world.store, world.project_id
    specs = [
        ("fast", 10, "READY", {"cv_score": 0.6, "jobs": {"JOB_0": {"metric": "f1"}}}),
        ("fast", 20, "FAILED", {"cv_score": 0.9}),
        ("search", 20, "READY", {"cv_score": 0.7}),
        ("fast", 30, "READY", {}),
        ("fast", 40, "READY", {"accuracy": 0.75}),
    ]
    for tier, n, status, metrics in specs:
        mv = create_model_version(store, pid, tier=tier, n_labels=n)
        finish_model_version(store, mv.id, status=status, metrics=metrics)
    curve = analytics.learning_curve(store, world.labeler, pid)
    assert [(p.display_name, p.tier, p.n_labels, p.score) for p in curve] == [
        ("automl-1", "fast", 10, 0.6),
        ("automl-3", "search", 20, 0.7),
        ("automl-5", "fast", 40, 0.75),
    ]
    assert curve[0].metric == "f1" and curve[2].metric == "accuracy"
    assert analytics.model_score({"cv_score": None, "score": 0.5}) == (0.5, "score")
    assert analytics.model_score({}) == (None, None)


def test_zero_shot_versions_are_a_tier_like_the_others(world: Any) -> None:
    from prelabel.ui import charts

    store, pid = world.store, world.project_id
    ids = asset_ids(world, 2)
    for tier, n, score in (("zero-shot", 0, 0.55), ("fast", 10, 0.7)):
        mv = create_model_version(store, pid, tier=tier, n_labels=n)
        finish_model_version(store, mv.id, status="READY", metrics={"cv_score": score})
        create_predictions(store, world.admin, pid, [PredictionIn(asset_id=ids[0], json_response=prediction(
            "DISASTER", 0.8))], model_version_id=mv.id)
        if tier == "zero-shot":
            create_label(store, world.labeler, pid, ids[0], json_response=answer("DISASTER"),
                         label_type=LabelType.DEFAULT, model_version_id=mv.id)
    curve = analytics.learning_curve(store, world.labeler, pid)
    assert [(p.tier, p.n_labels, p.score) for p in curve] == [("zero-shot", 0, 0.55), ("fast", 10, 0.7)]
    acc = analytics.acceptance_by_version(store, world.labeler, pid)
    assert [(a.tier, a.n_seen, a.n_accepted) for a in acc] == [("zero-shot", 1, 1), ("fast", 0, 0)]
    svg = str(charts.learning_curve_svg(curve))
    assert "automl-1 (zero-shot): 0.550 with 0 labels" in svg
    assert f'stroke="{charts.TIER_COLOURS["zero-shot"]}"' in svg


def test_class_distribution_uses_effective_labels_and_the_newest_predictions(world: Any) -> None:
    store, pid = world.store, world.project_id
    ids = asset_ids(world, 4)
    create_label(store, world.labeler, pid, ids[0], json_response=answer("DISASTER"))
    create_label(store, world.labeler, pid, ids[1], json_response=answer("DISASTER"))
    create_label(store, world.labeler, pid, ids[2], json_response=answer("NOT_DISASTER"))
    create_label(
        store, world.reviewer, pid, ids[1], json_response=answer("NOT_DISASTER"), label_type=LabelType.REVIEW
    )
    create_label(store, world.labeler, pid, ids[1], json_response=answer("DISASTER"))  # a review still wins
    with store.transaction(read_only=True) as s:
        exts = list(s.scalars(select(t.Asset.external_id).where(t.Asset.id.in_(ids)).order_by(t.Asset.id)))
    create_predictions(
        store,
        world.admin,
        pid,
        [PredictionIn(external_id=e, json_response=prediction("DISASTER", 0.9)) for e in exts],
        model_name="automl",
    )
    create_predictions(
        store,
        world.admin,
        pid,
        [PredictionIn(external_id=e, json_response=prediction("NOT_DISASTER", 0.6)) for e in exts[:3]],
        model_name="automl-new",
    )
    data = analytics.dashboard(store, world.labeler, pid)
    dist = {c.category: (c.labeled, c.predicted) for c in data.class_distribution}
    assert dist == {"DISASTER": (1, 0), "NOT_DISASTER": (2, 3)}
    assert data.predicted_by == "automl-new-2"
    assert [c.name for c in data.class_distribution] == ["Disaster", "Not a disaster"]


def test_outsiders_see_nothing(world: Any) -> None:
    for fn in (
        analytics.acceptance_by_version,
        analytics.labeler_throughput,
        analytics.honeypot_accuracy,
        analytics.learning_curve,
        analytics.class_distribution,
        analytics.recent_acceptance,
        analytics.suggestion_quality,
        analytics.dashboard,
    ):
        with pytest.raises(NotFound):
            fn(world.store, world.outsider, world.project_id)


def test_recent_acceptance_counts_the_newest_labels_given_with_a_suggestion(world: Any) -> None:
    store, pid = world.store, world.project_id
    ids = asset_ids(world, 7)
    with store.transaction(read_only=True) as s:
        exts = {a: s.get(t.Asset, a).external_id for a in ids}  # type: ignore[union-attr]
    create_predictions(
        store,
        world.admin,
        pid,
        [PredictionIn(external_id=exts[a], json_response=prediction("DISASTER", 0.8)) for a in ids[:6]],
        model_name="automl",
    )
    (v1,) = (mv.model_version_id for mv in analytics.acceptance_by_version(store, world.admin, pid))
    given = ["DISASTER", "NOT_DISASTER", "DISASTER", "DISASTER", "NOT_DISASTER", "DISASTER"]
    for aid, key in zip(ids, given, strict=False):
        create_label(store, world.labeler, pid, aid, json_response=answer(key), model_version_id=v1)
    create_label(store, world.labeler, pid, ids[6], json_response=answer("DISASTER"))  # no suggestion for it: left out
    recent = analytics.recent_acceptance(store, world.labeler, pid)
    assert (recent.n_seen, recent.n_accepted, recent.versions) == (6, 4, ["automl-1"])
    assert recent.acceptance_rate == pytest.approx(4 / 6)
    last3 = analytics.recent_acceptance(store, world.labeler, pid, n=3)  # the newest three: D, N, D
    assert (last3.n_seen, last3.n_accepted) == (3, 2)


def _jobs(honest: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = {"metric": "f1", "positive": "NOT_DISASTER", "n_labels": 30, "cv_score": 0.857, **extra}
    if honest is not None:
        job["honest"] = honest
    return {"JOB_0": job}


def test_model_score_and_quality_follow_the_honest_estimate(world: Any) -> None:
    from prelabel.service.models import honest_summary

    store, pid = world.store, world.project_id
    done = {
        "status": "done",
        "method": "repeated stratified 5-fold",
        "n_repeats": 4,
        "n_repeats_planned": 5,
        "stopped": "time cap",
        "accuracy": {"name": "accuracy", "value": 0.63, "low": 0.55, "high": 0.7},
        "metric": {"name": "f1", "value": 0.6, "low": 0.5, "high": 0.7, "positive": "NOT_DISASTER"},
        "per_class": {"NOT_DISASTER": {"precision": 0.6, "recall": 0.6, "f1": 0.6, "support": 14}},
    }
    specs = [
        {"jobs": _jobs(done, expected_accuracy=0.7, n_pool=10)},
        {"jobs": _jobs({"status": "pending"})},
        {"jobs": _jobs({"status": "failed", "error": "RuntimeError: x"})},
        {"jobs": _jobs(None)},  # enough labels: no estimate
    ]
    scores, qualities = [], []
    for metrics in specs:
        summary = honest_summary(metrics)
        if summary is not None:
            metrics["honest"] = summary
        metrics["cv_score"] = 0.857
        mv = create_model_version(store, pid, tier="fast", n_labels=30)
        finish_model_version(store, mv.id, status="READY", metrics=metrics)
        scores.append(analytics.model_score(metrics))
        q = analytics.suggestion_quality(store, world.labeler, pid)
        assert q is not None and q.model_version_id == mv.id  # the newest READY version serves
        qualities.append(q)
    assert scores == [(0.6, "f1"), (None, None), (0.857, "f1"), (0.857, "f1")]
    d, p, f, c = (q.jobs[0] for q in qualities)
    assert [q.status for q in qualities] == ["done", "pending", "failed", "none"]
    assert d.source == "repeated_cv" and d.score is not None and (d.score.value, d.score.low) == (0.6, 0.5)
    assert d.score.positive == "NOT_DISASTER" and d.accuracy is not None and d.accuracy.value == 0.63
    assert (d.n_repeats, d.stopped, d.expected_accuracy, d.n_pool) == (4, "time cap", 0.7, 10)
    assert d.per_class["NOT_DISASTER"]["support"] == 14
    assert p.source == "pending" and p.score is None
    assert f.source == "cv" and f.score is not None and f.score.value == 0.857 and f.error == "RuntimeError: x"
    assert c.source == "cv" and c.error is None
    curve = analytics.learning_curve(store, world.labeler, pid)
    assert [pt.score for pt in curve] == [0.6, 0.857, 0.857]  # the pending version has no point yet
