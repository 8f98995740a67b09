"""The training-job queue's queries on every backend: queuing and listing jobs, and what the label trigger reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prelabel.store import tables as t
from prelabel.store import training as training_repo
from prelabel.store.engine import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _projects(store: Store, n: int) -> list[int]:
    with store.transaction() as s:
        projects = [t.Project(title=f"p{i}", interface={}) for i in range(n)]
        s.add_all(projects)
        s.flush()
        return [p.id for p in projects]


def _job(store: Store, project_id: int, tier: str, minutes: int, status: str = "QUEUED") -> int:
    with store.transaction() as s:
        job = training_repo.insert_job(s, project_id, tier, reason="labels", requested_by=None, n_labels=0)
        job.created_at, job.status = T0 + timedelta(minutes=minutes), status
        return job.id


def _labels(store: Store, project_id: int, *rows: tuple[str, str, int]) -> None:
    """(asset external id, label type, minutes after T0) rows; the assets are made as needed."""
    with store.transaction() as s:
        assets: dict[str, t.Asset] = {}
        for ext, kind, minutes in rows:
            if ext not in assets:
                assets[ext] = t.Asset(project_id=project_id, external_id=ext, content=ext)
                s.add(assets[ext])
                s.flush()
            s.add(
                t.Label(
                    project_id=project_id,
                    asset_id=assets[ext].id,
                    label_type=kind,
                    json_response={},
                    created_at=T0 + timedelta(minutes=minutes),
                )
            )


def test_queued_jobs_are_listed_newest_first(store: Store) -> None:
    pid, other = _projects(store, 2)
    with store.transaction() as s:
        job = training_repo.insert_job(s, pid, "search", reason="manual", requested_by=None, n_labels=12)
        assert job.id is not None and job.status == "QUEUED" and job.created_at.tzinfo is not None
    ids = [job.id, _job(store, pid, "fast", 1), _job(store, other, "fast", 2), _job(store, pid, "prepare", 3)]
    with store.transaction(read_only=True) as s:
        assert [j.id for j in training_repo.newest_jobs(s, pid, 2)] == [ids[3], ids[1]]
        assert [j.id for j in training_repo.newest_jobs(s, pid, 10)] == [ids[3], ids[1], ids[0]]
        found = training_repo.job_by_id(s, ids[0])
        assert found is not None and (found.tier, found.n_labels, found.reason) == ("search", 12, "manual")
        assert training_repo.job_by_id(s, 10**6) is None


def test_the_newest_fast_job_skips_cancelled_ones_only_when_asked(store: Store) -> None:
    pid, other = _projects(store, 2)
    with store.transaction(read_only=True) as s:
        assert training_repo.newest_fast_job(s, pid, with_cancelled=True) is None
    kept = _job(store, pid, "fast", 1, "SUCCEEDED")
    _job(store, pid, "search", 5)
    cancelled = _job(store, pid, "fast", 3, "CANCELLED")
    _job(store, other, "fast", 9)
    with store.transaction(read_only=True) as s:
        assert training_repo.newest_fast_job(s, pid, with_cancelled=True).id == cancelled  # type: ignore[union-attr]
        assert training_repo.newest_fast_job(s, pid, with_cancelled=False).id == kept  # type: ignore[union-attr]


def test_fast_job_times_are_the_newest_per_project_and_aware(store: Store) -> None:
    a, b, c = _projects(store, 3)
    _job(store, a, "fast", 1)
    _job(store, a, "fast", 7, "CANCELLED")
    _job(store, a, "search", 30)
    _job(store, b, "fast", 4)
    _job(store, c, "prepare", 2)
    with store.transaction(read_only=True) as s:
        times = training_repo.fast_job_times(s)
        assert sorted(training_repo.project_ids(s)) == [a, b, c]
    assert times == {a: T0 + timedelta(minutes=7), b: T0 + timedelta(minutes=4)}
    assert all(when.tzinfo is not None for when in times.values())


def test_label_counts_and_the_newest_label(store: Store) -> None:
    pid, other = _projects(store, 2)
    with store.transaction(read_only=True) as s:
        assert training_repo.newest_label_time(s, pid) is None
        assert training_repo.labeled_asset_count(s, pid) == 0
    # the newest label is the last one written (highest id), whatever its type and clock
    _labels(
        store,
        pid,
        ("a", "DEFAULT", 5),
        ("a", "REVIEW", 6),
        ("b", "REVIEW", 1),
        ("c", "AUTOSAVE", 9),
        ("d", "DEFAULT", 2),
    )
    _labels(store, other, ("z", "DEFAULT", 60))
    with store.transaction(read_only=True) as s:
        assert training_repo.labeled_asset_count(s, pid) == 3  # a, b and d; an autosave is no label yet
        newest = training_repo.newest_label_time(s, pid)
    assert newest == T0 + timedelta(minutes=2) and newest.tzinfo is not None
