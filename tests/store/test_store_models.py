"""The model-version queries on every backend: numbering, publishing, artifacts and the newest-version lookups."""

from __future__ import annotations

from prelabel.store import models as models_repo
from prelabel.store import tables as t
from prelabel.store.engine import Store


def _project(store: Store) -> int:
    with store.transaction() as s:
        p = t.Project(title="p", interface={})
        s.add(p)
        s.flush()
        return p.id


def _version(
    store: Store, project_id: int, version: int, *, status: str, tier: str = "fast", name: str = "automl"
) -> int:
    with store.transaction() as s:
        mv = models_repo.insert_model_version(
            s, project_id, name=name, version=version, tier=tier, status=status, n_labels=0, metrics={}
        )
        return mv.id


def test_inserted_versions_and_the_counter(store: Store) -> None:
    pid = _project(store)
    with store.transaction() as s:
        assert models_repo.highest_version_number(s, pid) is None
        training = models_repo.insert_model_version(
            s, pid, name="automl", version=4, tier="fast", status="TRAINING", n_labels=3, metrics={"a": 1}
        )
        ready = models_repo.insert_model_version(
            s, pid, name="ext", version=2, tier="external", status="READY", n_labels=0, metrics={}
        )
        assert training.finished_at is None and ready.finished_at is not None  # only TRAINING is unfinished
        assert models_repo.highest_version_number(s, pid) == 4
        models_repo.set_version_counter(s, pid, 4)
    with store.transaction(read_only=True) as s:
        project = s.get(t.Project, pid)
        assert project is not None and project.last_model_version == 4
        assert [mv.version for mv in models_repo.versions_of(s, pid)] == [4, 2]


def test_publishing_succeeds_once_and_only_for_a_training_version(store: Store) -> None:
    pid = _project(store)
    mv = _version(store, pid, 1, status="TRAINING")
    failed = _version(store, pid, 2, status="FAILED")
    with store.transaction() as s:
        assert models_repo.publish_model_version(s, mv, metrics={"cv": 0.8}, artifact=b"m", n_labels=12)
        assert not models_repo.publish_model_version(s, mv, metrics={}, artifact=None, n_labels=0)
        assert not models_repo.publish_model_version(s, failed, metrics={}, artifact=b"x", n_labels=1)
    with store.transaction(read_only=True) as s:
        published, left = s.get(t.ModelVersion, mv), s.get(t.ModelVersion, failed)
        assert published is not None and left is not None
        assert (published.status, published.metrics, published.n_labels) == ("READY", {"cv": 0.8}, 12)
        assert published.finished_at is not None
        assert (left.status, left.artifact, left.n_labels) == ("FAILED", None, 0)
        assert models_repo.artifact_of(s, mv) == models_repo.StoredArtifact(b"m")
        assert models_repo.artifact_of(s, failed) == models_repo.StoredArtifact(None)
        assert models_repo.artifact_of(s, 10**6) is None


def test_set_version_fields_leaves_the_fields_not_given(store: Store) -> None:
    pid = _project(store)
    mv_id = _version(store, pid, 1, status="TRAINING")
    with store.transaction() as s:
        mv = models_repo.model_version_by_id(s, mv_id)
        assert mv is not None
        models_repo.set_version_fields(s, mv, status="READY", artifact=b"m", n_labels=5)
        models_repo.set_version_fields(s, mv, metrics={"ece": 0.1})
    with store.transaction(read_only=True) as s:
        mv = models_repo.model_version_by_id(s, mv_id)
        assert mv is not None
        assert (mv.status, mv.artifact, mv.n_labels, mv.metrics, mv.finished_at) == (
            "READY",
            b"m",
            5,
            {"ece": 0.1},
            None,
        )


def test_the_newest_ready_version_by_number_family_and_tier(store: Store) -> None:
    pid = _project(store)
    with store.transaction(read_only=True) as s:
        assert models_repo.newest_ready_version(s, pid) is None
        assert models_repo.newest_ready_or_withdrawn(s, pid) is None
    v1 = _version(store, pid, 1, status="READY", tier="zero-shot")
    v2 = _version(store, pid, 2, status="WITHDRAWN", tier="zero-shot")
    v3 = _version(store, pid, 3, status="READY", tier="external", name="mine")
    _version(store, pid, 4, status="TRAINING")
    with store.transaction(read_only=True) as s:
        assert models_repo.newest_ready_version(s, pid).id == v3  # type: ignore[union-attr]
        assert models_repo.newest_ready_version(s, pid, name="automl").id == v1  # type: ignore[union-attr]
        assert models_repo.newest_ready_version(s, pid, tier="zero-shot").id == v1  # type: ignore[union-attr]
        assert models_repo.newest_ready_version(s, pid, name="mine", tier="fast") is None
        assert models_repo.newest_ready_or_withdrawn(s, pid).id == v3  # type: ignore[union-attr]
    with store.transaction() as s:
        s.get(t.ModelVersion, v3).status = "FAILED"  # type: ignore[union-attr]
    with store.transaction(read_only=True) as s:
        assert models_repo.newest_ready_or_withdrawn(s, pid).id == v2  # type: ignore[union-attr]
