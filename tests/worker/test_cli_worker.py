"""`prelabel train PROJECT` runs the jobs with progress output; bad input is refused with a clear message."""

from __future__ import annotations

from loophelpers import label, make_world, topic_corpus
from sqlalchemy import select
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.store import tables as t
from prelabel.store.engine import Store


def test_train_command(store: Store, db_url: str) -> None:
    texts, truth = topic_corpus(60)
    w = make_world(store, texts, settings={"auto_train": False})
    runner = CliRunner()
    args = ["train", str(w.project_id), "--user", "admin", "--database-url", db_url, "--tier", "fast"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "Label some assets first" in res.output
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:12]:
        label(w, aid, y)
    res = runner.invoke(app, ["train", str(w.project_id), "--user", "lab", "--database-url", db_url])
    assert res.exit_code == 1 and "admin" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "SUCCEEDED" in res.output and "automl-1 on 12 labels" in res.output
    with store.transaction(read_only=True) as s:
        assert s.scalars(select(t.ModelVersion.status)).all() == ["READY"]
    res = runner.invoke(app, [*args[:-1], "huge"])
    assert res.exit_code != 0 and "fast, search or both" in res.output
    res = runner.invoke(app, [*args, "--no-wait"])
    assert res.exit_code == 0 and "queued job" in res.output
    with store.transaction(read_only=True) as s:
        assert s.scalars(select(t.TrainingJob.status).order_by(t.TrainingJob.id)).all() == ["SUCCEEDED", "QUEUED"]


def test_train_runs_only_the_tiers_asked_for_and_worker_tiers_are_checked(store: Store, db_url: str) -> None:
    texts, truth = topic_corpus(40)
    # the import queues a prepare job (sentence vectors; random first order, so no sentence model is needed)
    w = make_world(store, texts, settings={"auto_train": False, "use_embeddings": True})
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:12]:
        label(w, aid, y)
    runner = CliRunner()
    args = ["train", str(w.project_id), "--user", "admin", "--database-url", db_url, "--tier", "fast"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "job 2 (fast): SUCCEEDED" in res.output, res.output
    with store.transaction(read_only=True) as s:
        jobs = s.execute(select(t.TrainingJob.tier, t.TrainingJob.status).order_by(t.TrainingJob.id)).all()
    assert [tuple(j) for j in jobs] == [("prepare", "QUEUED"), ("fast", "SUCCEEDED")]  # left to the workers
    res = runner.invoke(app, ["worker", "--database-url", db_url, "--tiers", "fast,slow"])
    assert res.exit_code == 1 and "--tiers must list some of fast, prepare, search; got 'fast,slow'" in res.output
