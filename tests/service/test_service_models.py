from __future__ import annotations

import threading

import pytest
from service_helpers import INTERFACE, Team
from sqlalchemy import delete

from prelabel.domain import ModelStatus
from prelabel.errors import InvalidInput, NotFound
from prelabel.service import models, projects
from prelabel.store import tables as t
from prelabel.store.engine import Store


def test_versions_are_monotonic_per_project_and_never_reused(team: Team) -> None:
    s = team.store
    other = projects.create_project(s, team.admin, title="Other", interface=INTERFACE)
    v1 = models.create_model_version(s, team.pid, tier="fast", n_labels=10)
    v2 = models.create_model_version(s, team.pid, tier="search")
    o1 = models.create_model_version(s, other.id)
    assert (v1.version, v2.version, o1.version) == (1, 2, 1)
    assert v1.display_name == "automl-1" and v1.status == ModelStatus.TRAINING and v1.finished_at is None
    # Delete the newest version (e.g. an abandoned training run): its number is not handed out again.
    with s.transaction() as sess:
        sess.execute(delete(t.ModelVersion).where(t.ModelVersion.id == v2.id))
    v3 = models.create_model_version(s, team.pid)
    assert v3.version == 3
    assert [v.version for v in models.list_model_versions(s, team.labeler, team.pid)] == [3, 1]
    with pytest.raises(NotFound):
        models.create_model_version(s, 10**6)
    with pytest.raises(InvalidInput):
        models.create_model_version(s, team.pid, name="no spaces")


def test_concurrent_creators_get_distinct_numbers(team: Team, db_url: str) -> None:
    stores = [Store(db_url) for _ in range(4)]
    got: list[int] = []
    errors: list[BaseException] = []

    def work(st: Store) -> None:
        try:
            for _ in range(5):
                got.append(models.create_model_version(st, team.pid).version)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(st,)) for st in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for st in stores:
        st.dispose()
    assert errors == []
    assert sorted(got) == list(range(1, 21))


def test_finish_load_artifact_and_latest_ready(team: Team) -> None:
    s = team.store
    assert models.latest_ready_model_version(s, team.pid) is None
    v1 = models.create_model_version(s, team.pid, tier="fast")
    v2 = models.create_model_version(s, team.pid, tier="search")
    assert models.load_artifact(s, v1.id) is None
    done = models.finish_model_version(
        s, v1.id, status=ModelStatus.READY, metrics={"cv_score": 0.8}, artifact=b"\x00model", n_labels=12
    )
    assert done.status == "READY" and done.finished_at is not None and done.n_labels == 12
    assert "artifact" not in done.model_dump()
    models.finish_model_version(s, v1.id, status="READY", metrics={"ece": 0.02})
    assert models.get_model_version(s, team.labeler, team.pid, v1.id).metrics == {
        "cv_score": 0.8,
        "ece": 0.02,
    }
    assert models.load_artifact(s, v1.id) == b"\x00model"
    latest = models.latest_ready_model_version(s, team.pid)
    assert latest is not None and latest.id == v1.id
    models.finish_model_version(s, v2.id, status=ModelStatus.FAILED, metrics={"error": "boom"})
    latest = models.latest_ready_model_version(s, team.pid)
    assert latest is not None and latest.id == v1.id
    assert models.latest_ready_model_version(s, team.pid, tier="search") is None
    with pytest.raises(NotFound):
        models.get_model_version(s, team.outsider, team.pid, v1.id)
    with pytest.raises(NotFound):
        models.load_artifact(s, 10**6)
    with pytest.raises(InvalidInput, match="Unknown model status 'DONE'"):
        models.finish_model_version(s, v1.id, status="DONE")
