"""The trainer's status names the version serving the suggestions, by the same rule as the current predictions."""

from __future__ import annotations

from service_helpers import Team

from prelabel.domain import ModelStatus
from prelabel.service import models, projects
from prelabel.service.training import training_status


def test_the_status_names_the_version_the_suggestions_come_from(team: Team) -> None:
    s = team.store
    assert training_status(s, team.labeler, team.pid).latest_ready_version is None
    trained = models.create_model_version(s, team.pid, tier="fast", status=ModelStatus.READY)
    pushed = models.create_model_version(s, team.pid, name="mine", tier="external", status=ModelStatus.READY)
    models.create_model_version(s, team.pid, tier="search")  # still TRAINING: serves nothing
    status = training_status(s, team.labeler, team.pid)
    assert (status.latest_ready_version_id, status.latest_ready_version) == (trained.id, "automl-1")
    assert status.latest_ready_at == trained.finished_at  # the newer push does not replace the trainer's model

    projects.update_project(s, team.admin, team.pid, settings={"suggestions_from": "external"})
    assert training_status(s, team.labeler, team.pid).latest_ready_version == pushed.display_name == "mine-2"
    projects.update_project(s, team.admin, team.pid, settings={"suggestions_from": "trainer"})
    models.finish_model_version(s, trained.id, status=ModelStatus.FAILED)
    assert training_status(s, team.labeler, team.pid).latest_ready_version == "mine-2"  # no trained one is READY
