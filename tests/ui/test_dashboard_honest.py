"""The dashboard's honest figures against the real app on a real database: the repeated-CV estimate with its
interval (or "estimating…"), tied leaderboard ranks and what the search ran / stored / shows, the expected
accuracy of the suggestions, and measured acceptance; once with stored metrics, once end to end with the real
trainer on real disaster tweets."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from prelabel.service.labels import create_label
from prelabel.service.models import create_model_version, finish_model_version, honest_summary
from prelabel.service.training import request_training
from prelabel.store import tables as t
from prelabel.worker.trainer import Trainer

DASH = "\u2013"  # the interval's en dash


def _honest_done() -> dict[str, Any]:
    return {
        "status": "done",
        "task": "single",
        "method": "repeated stratified 5-fold",
        "n_labels": 30,
        "n_splits": 5,
        "n_repeats": 5,
        "n_repeats_planned": 5,
        "stopped": None,
        "seconds": 3.2,
        "accuracy": {"name": "accuracy", "value": 0.633, "low": 0.55, "high": 0.71, "positive": None},
        "metric": {"name": "f1", "value": 0.6, "low": 0.45, "high": 0.72, "positive": "NOT_DISASTER"},
        "per_class": {
            "DISASTER": {"precision": 0.66, "recall": 0.7, "f1": 0.6794, "support": 16},
            "NOT_DISASTER": {"precision": 0.62, "recall": 0.5814, "f1": 0.6, "support": 14},
        },
        "interval": "90 % percentile bootstrap over the 30 labeled items",
    }


def _search_metrics() -> dict[str, Any]:
    """A search on 30 labels: 723 trials run, the best 25 stored, 15 of them tied at 0.8571."""
    board = [
        {"trial": i, "features": "word", "model": "logreg", "params": {"C": 1.0 + i}, "cv_score": 6 / 7}
        for i in range(15)
    ] + [
        {"trial": 15 + i, "features": "char", "model": "nb", "params": {}, "cv_score": 0.8 - i / 100}
        for i in range(10)
    ]
    jobs = {
        "JOB_0": {
            "metric": "f1",
            "positive": "NOT_DISASTER",
            "n_labels": 30,
            "cv_score": 0.857,
            "n_trials": 723,
            "n_trials_ok": 700,
            "n_tied_best": 15,
            "n_trials_stored": 25,
            "leaderboard": board,
            "expected_accuracy": 0.712,
            "n_pool": 10846,
            "per_class": {"DISASTER": {"precision": 0.7, "recall": 0.6, "f1": 0.667, "support": 16}},
            "honest": _honest_done(),
        }
    }
    metrics: dict[str, Any] = {"cv_score": 0.857, "ece": 0.2, "expected_accuracy": 0.712, "jobs": jobs}
    metrics["honest"] = honest_summary(metrics)
    return metrics


def test_estimate_ties_trial_counts_and_expected_accuracy(
    app_client: TestClient, world: Any, login: Callable[..., str]
) -> None:
    login(app_client, "alice")
    pid = world.project_id
    mv = create_model_version(world.store, pid, tier="search", n_labels=30)
    finish_model_version(world.store, mv.id, status="READY", metrics=_search_metrics())
    text = app_client.get(f"/projects/{pid}/dashboard").text
    # the estimate, its interval and how it was made; the classifier's own 0.857 is not the score shown
    assert "How good are the suggestions?" in text
    assert "Estimated F1 of NOT_DISASTER" in text and "0.600" in text
    assert f"90 % interval 0.450{DASH}0.720" in text
    assert "repeated stratified 5-fold on 30 labels, 5 of 5 repeats" in text
    assert "Estimated accuracy" in text and "0.633" in text and f"90 % interval 0.550{DASH}0.710" in text
    assert f'0.600 <span class="muted small">[0.45{DASH}0.72]</span>' in text  # the versions table
    assert "0.857" not in text.split("Search leaderboard")[0]  # the leaderboard has each trial's own score
    # the per-class table of the same pooled predictions
    assert "repeated cross-validation, the same predictions as the estimate" in text and "0.679" in text
    # expected accuracy, labelled as what calibrated probabilities promise
    assert "Expected accuracy" in text and "0.712" in text
    assert "expected if the probabilities are calibrated" in text and "10,846 unlabeled texts" in text
    # the leaderboard: tied ranks, what was run, stored and shown
    assert "723 trials run, 25 stored, top 15 shown" in text
    assert "15 of 723 configurations tie at 0.8571" in text
    ranks = re.findall(r"<tr><td>(=?\d+)</td>", text)
    assert ranks == ["=1"] * 15
    assert "Measured acceptance" in text and "no label has been given with a suggestion on screen yet" in text


def test_pending_estimate_says_estimating(app_client: TestClient, world: Any, login: Callable[..., str]) -> None:
    login(app_client, "leo")
    pid = world.project_id
    metrics = _search_metrics()
    metrics["jobs"]["JOB_0"]["honest"] = {"status": "pending"}
    metrics["honest"] = honest_summary(metrics)
    assert metrics["honest"] == {"status": "pending", "jobs": ["JOB_0"]}
    mv = create_model_version(world.store, pid, tier="fast", n_labels=30)
    finish_model_version(world.store, mv.id, status="READY", metrics=metrics)
    text = app_client.get(f"/projects/{pid}/dashboard").text
    assert text.count("estimating…") == 2  # the quality section and the versions table
    assert "0.857" not in text.split("Search leaderboard")[0]  # no inflated score while it runs


def test_end_to_end_with_the_real_trainer(
    app_client: TestClient, world: Any, login: Callable[..., str], tmp_path: Path
) -> None:
    """20 real tweets labeled with their gold answer, a real fast model and its estimate, then 6 labels given
    with its suggestion on screen: the dashboard shows the estimate, the expected accuracy and acceptance."""
    login(app_client, "alice")
    store, pid = world.store, world.project_id
    with store.transaction() as s:  # TF-IDF only: no sentence model in this test
        s.execute(update(t.Project).where(t.Project.id == pid).values(settings={"use_embeddings": False}))
    with store.transaction(read_only=True) as s:
        assets = s.execute(
            select(t.Asset.id, t.Asset.external_id).where(t.Asset.project_id == pid).order_by(t.Asset.id)
        ).all()
    answer = {a: {"JOB_0": {"categories": [{"name": world.gold[ext]}]}} for a, ext in assets}
    for aid, _ext in assets[:20]:
        create_label(store, world.labeler, pid, aid, json_response=answer[aid])
    request_training(store, world.admin, pid, tier="fast")
    results = Trainer(store, cache_dir=str(tmp_path), tiers=("fast",), schedule=False).run_until_idle(project_id=pid)
    assert [r.status for r in results][-1:] == ["SUCCEEDED"], [r.message for r in results]
    with store.transaction(read_only=True) as s:
        mv = s.scalars(select(t.ModelVersion).where(t.ModelVersion.status == "READY")
                       .order_by(t.ModelVersion.version.desc())).first()
        assert mv is not None
        metrics, mv_id, name = dict(mv.metrics), mv.id, f"{mv.name}-{mv.version}"
    h = metrics["jobs"]["JOB_0"]["honest"]
    assert h["status"] == "done" and h["n_labels"] == 20
    # six labels given with this version's suggestion on screen (the service compares them with it)
    for aid, _ext in assets[20:26]:
        create_label(store, world.labeler, pid, aid, json_response=answer[aid], model_version_id=mv_id)
    with store.transaction(read_only=True) as s:
        agreed = sum(
            bool(v)
            for v in s.scalars(select(t.Label.agrees_with_prediction).where(t.Label.model_version_id == mv_id))
        )
    text = app_client.get(f"/projects/{pid}/dashboard").text
    fig = h["metric"] or h["accuracy"]
    assert f"{fig['value']:.3f}" in text and f"90 % interval {fig['low']:.3f}{DASH}{fig['high']:.3f}" in text
    assert f"{metrics['expected_accuracy']:.3f}" in text
    assert f"{agreed} of 6 labels given with {name}" in text
    assert f"last 6 such labels: {round(100 * agreed / 6)}%" in text
