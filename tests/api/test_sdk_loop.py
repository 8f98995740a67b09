"""The SDK's methods for the trainer's routes (train now, jobs, status, the labeling queue, review)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prelabel.client import InvalidRequestError, PermissionDeniedError

DISASTER = {"JOB_0": {"categories": [{"name": "DISASTER"}]}}


def test_queue_lease_skip_release(alice: Any, make_user: Callable[..., Any], project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": f"q{i}", "content": f"text {i}"} for i in range(3)])
    bob = make_user("bob")
    c.add_member(project_id, "bob", "labeler")
    mine = c.next_asset(project_id)
    assert mine is not None
    assert c.next_asset(project_id).id == mine.id  # my lease comes back until I label or release it
    theirs = bob.client.next_asset(project_id)
    assert theirs is not None and theirs.id != mine.id  # never the same asset to two labelers
    c.create_label(project_id, mine.id, DISASTER)
    bob.client.release_asset(project_id, theirs.id)
    nxt = c.next_asset(project_id)
    assert nxt is not None and nxt.id != mine.id
    c.skip_asset(project_id, nxt.id)
    served = set()
    while (a := bob.client.next_asset(project_id)) is not None:
        served.add(a.id)
        bob.client.create_label(project_id, a.id, DISASTER)
    assert mine.id not in served and len(served) == 2
    assert c.next_asset(project_id) is None


def test_train_jobs_status_and_review(alice: Any, make_user: Callable[..., Any], project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": f"q{i}", "content": f"text {i}"} for i in range(3)])
    with pytest.raises(InvalidRequestError) as exc:
        c.train(project_id, tier="fast")
    assert "Label some assets first" in exc.value.message
    first, second = (a.id for a in c.list_assets(project_id, limit=2).items)
    c.create_label(project_id, first, DISASTER)
    c.create_label(project_id, second, {"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}})
    jobs = c.train(project_id, tier="fast")
    assert [j.tier for j in jobs] == ["fast"] and jobs[0].status == "QUEUED"
    # newest first; the import queued the project's prepare job (sentence vectors, a first queue order)
    listed = c.training_jobs(project_id)
    assert [(j.id, j.tier) for j in listed] == [(jobs[0].id, "fast"), (listed[1].id, "prepare")]
    assert c.training_job(project_id, jobs[0].id).id == jobs[0].id
    status = c.training_status(project_id)
    assert status["project_id"] == project_id
    assert sorted(j["id"] for j in status["active_jobs"]) == sorted(j.id for j in listed)
    assert c.review_list(project_id).items == []
    bob = make_user("bob")
    c.add_member(project_id, "bob", "labeler")
    with pytest.raises(PermissionDeniedError):
        bob.client.train(project_id)
    with pytest.raises(PermissionDeniedError):
        bob.client.review_list(project_id)
