"""Label Studio's ML backend protocol, served by prelabel: the business side of ``/label-studio/{token}/…``
(`prelabel.api.routes.label_studio`). Label Studio 1.23 speaks it like this:

* connecting (and before every prediction request) it calls ``GET /health`` then ``POST /setup``
  ``{"project": "<id>.<created unix time>", "schema": "<labeling config>", "hostname", "access_token", …}`` and
  keeps the answer's ``model_version``; tasks that have no prediction of that version get predicted;
* ``POST /predict`` ``{"tasks": [task, …], "project", "label_config", "params"}`` is answered with
  ``{"results": [one prediction per task, in order]}`` (Label Studio drops the whole batch when the count differs);
* it creates a project webhook to ``<url>/webhook`` with every event (``ANNOTATION_CREATED``,
  ``ANNOTATION_UPDATED``, ``ANNOTATIONS_CREATED``, ``TASKS_CREATED``, …) and its "Start training" button posts
  ``{"action": "START_TRAINING", "project": {…}}`` there too. That webhook carries no credentials, which is why
  the prelabel token is in the URL path.

Mapping: each Label Studio project is linked to one prelabel project (``label_studio_links``): the one named in
the URL (``…/projects/{id}/``), else the one already linked to it among the token owner's projects, else a new
project created from the labeling config (`label_studio_schema`). The token's user must be the project's admin:
/predict imports unknown tasks as assets (external id ``meta.external_id``, else ``ls-<task id>``, their newest
annotation as a label) and annotations become that user's labels, which the trainer's label trigger turns into
fresh models (`service.training.schedule_due_training`). When the Label Studio config changes, the project's
interface follows it (refused, with the reason, when labels would no longer fit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prelabel.domain import Role
from prelabel.errors import Conflict, InvalidInput
from prelabel.service import projects as projects_svc
from prelabel.service._access import interface_of, require
from prelabel.service.assets import import_assets
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetIn
from prelabel.service.label_studio_schema import (
    LSSchema,
    fits,
    ls_model_version,
    newest_answer,
    parse_label_config,
    prediction_for,
    response_from_result,
    task_external_id,
    task_text,
)
from prelabel.service.labels import create_label
from prelabel.service.training import enqueue, request_training
from prelabel.store import jobs as jobs_sql
from prelabel.store import label_studio as ls_sql
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

# How long /predict waits for the trainer to predict tasks it has just imported (a first zero-shot or fast
# version needs a few seconds); Label Studio waits up to 100 s for /predict (ML_TIMEOUT_PREDICT).
PREDICT_WAIT_S = 5.0
_POLL_S = 0.2
UNTRAINED = "prelabel-untrained"
PENDING = "prelabel-pending"
MAX_TASKS = 10_000
LEARN_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
EVENTS = (*LEARN_EVENTS, "START_TRAINING", "TASKS_CREATED")


@dataclass(frozen=True)
class Connection:
    project_id: int
    ls_project: str
    schema: LSSchema


# --- linking ------------------------------------------------------------------------------------------------
def _find_link(
    s: Session, actor: Actor, ls_project: str, project_id: int | None
) -> tuple[t.LabelStudioLink | None, t.Project | None]:
    """(the link, the prelabel project) serving a Label Studio project: the one named, else the first linked one
    the actor is an admin of; (None, None) when there is none yet."""
    if project_id is not None:
        project, _ = require(s, actor, project_id, Role.ADMIN, "connect Label Studio")
        link = ls_sql.link_of_project(s, project_id)
        if link is not None and link.ls_project != ls_project:
            raise Conflict(
                f"prelabel project {project_id} is connected to Label Studio project {link.ls_project}, not "
                f"{ls_project}; disconnect it first (DELETE /api/v1/projects/{project_id}/label-studio).",
                details={"connected": link.ls_project},
            )
        return link, project
    for link in ls_sql.links_of(s, ls_project, None if actor.is_superuser else actor.user_id):
        project, _ = require(s, actor, link.project_id, Role.ADMIN, "serve Label Studio")
        return link, project
    return None, None


def connect(
    store: Store, actor: Actor, *, ls_project: str, label_config: str, project_id: int | None = None, ls_host: str = ""
) -> Connection:
    """The prelabel project serving a Label Studio project: found, or created from `label_config`, its
    interface brought in line with the config, the link's config kept up to date."""
    if not isinstance(ls_project, str) or not ls_project.strip() or len(ls_project) > 64:
        raise InvalidInput("Label Studio sent no valid project id (expected '<id>.<timestamp>').")
    schema = parse_label_config(label_config)
    with store.transaction(read_only=True) as s:
        link, project = _find_link(s, actor, ls_project, project_id)
        pid = project.id if project is not None else None
        current = interface_of(project) if project is not None else None
        fresh = link is not None and link.label_config == label_config and (link.ls_host == ls_host or not ls_host)
    if pid is None:
        title = f"Label Studio project {ls_project.split('.', 1)[0]}"
        pid = projects_svc.create_project(store, actor, title=title, interface=_doc(schema)).id
    elif current is not None and not fits(current, schema):
        projects_svc.update_project(store, actor, pid, interface=_doc(schema))
    if not fresh:
        _save_link(store, actor, pid, ls_project, label_config, ls_host)
    return Connection(project_id=pid, ls_project=ls_project, schema=schema)


def _doc(schema: LSSchema) -> dict[str, Any]:
    return schema.interface().model_dump(mode="json")


def _save_link(store: Store, actor: Actor, project_id: int, ls_project: str, label_config: str, ls_host: str) -> None:
    with store.transaction() as s:
        ls_sql.save_link(
            s, project_id, ls_project=ls_project, label_config=label_config, ls_host=ls_host, created_by=actor.user_id
        )


def disconnect(store: Store, actor: Actor, project_id: int) -> bool:
    """Forget the project's Label Studio link (admin only); whether there was one. Its assets and labels stay."""
    with store.transaction() as s:
        require(s, actor, project_id, Role.ADMIN, "disconnect Label Studio")
        link = ls_sql.link_of_project(s, project_id)
        if link is None:
            return False
        ls_sql.delete_link(s, link)
        return True


def connection_of(store: Store, actor: Actor, project_id: int) -> dict[str, Any] | None:
    """The project's Label Studio link (any member), or None."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        link = ls_sql.link_of_project(s, project_id)
        if link is None:
            return None
        return {"ls_project": link.ls_project, "ls_host": link.ls_host, "label_config": link.label_config,
                "created_at": link.created_at, "updated_at": link.updated_at}


def ls_project_uid(project: Any) -> str:
    """Label Studio's ``"<id>.<created unix time>"`` for a project object of a webhook payload."""
    if not isinstance(project, dict) or not isinstance(project.get("id"), int):
        raise InvalidInput("The webhook payload has no 'project' object with an id.")
    try:
        created = datetime.fromisoformat(str(project.get("created_at")))
    except ValueError:
        raise InvalidInput("The webhook payload's project has no valid 'created_at'.") from None
    return f"{project['id']}.{int(created.timestamp())}"


# --- /setup and /predict --------------------------------------------------------------------------------------
def model_version(store: Store, conn: Connection) -> str:
    """What /setup answers: Label Studio's name of the version whose predictions are current."""
    with store.transaction(read_only=True) as s:
        mv = repo.serving_version(s, conn.project_id)  # the version current predictions come from
        return ls_model_version(f"{mv.name}-{mv.version}") if mv is not None else UNTRAINED


def _lead_time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def asset_for_task(schema: LSSchema, task: Any, where: str, *, with_label: bool = True) -> AssetIn:
    """The prelabel asset of a Label Studio task sent by the ML backend protocol (which always has an id)."""
    if not isinstance(task, dict):
        raise InvalidInput(f"{where}: a task must be an object.")
    ext = task_external_id(task, where)
    if ext is None:
        raise InvalidInput(f"{where}: the task has no id.")
    label = newest_answer(schema, task.get("annotations"), where) if with_label else None
    return AssetIn(external_id=ext, content=task_text(schema, task, where), label=label)


def _ensure_assets(store: Store, actor: Actor, conn: Connection, records: Sequence[AssetIn]) -> dict[str, int]:
    """external id → asset id for `records`, importing the ones the project does not have yet; a project that
    already has a trained model gets a fast job so that its next version predicts them."""
    exts = list(dict.fromkeys(r.external_id for r in records))
    with store.transaction(read_only=True) as s:
        ids = repo.asset_ids_by_external_id(s, conn.project_id, exts)
    new = list({r.external_id: r for r in records if r.external_id not in ids}.values())
    if not new:
        return ids
    import_assets(store, actor, conn.project_id, new, on_conflict="skip")  # skip: a concurrent call's
    with store.transaction() as s:
        if jobs_sql.has_ready_model(s, conn.project_id):
            enqueue(s, conn.project_id, "fast", reason="label-studio tasks")
        return repo.asset_ids_by_external_id(s, conn.project_id, exts)


def _current_predictions(store: Store, project_id: int, asset_ids: Sequence[int], wait_s: float) -> dict[int, Any]:
    """asset id → (current prediction, version display name); while some are missing and the trainer has a job
    for the project, polls until `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    wanted = set(asset_ids)
    while True:
        with store.transaction(read_only=True) as s:
            preds = repo.current_predictions(s, wanted)
            # a search job takes its whole budget (30 s by default): only prepare and fast jobs are worth waiting for
            busy = ls_sql.has_active_job(s, project_id, ("prepare", "fast"))
        if len(preds) == len(wanted) or not busy or time.monotonic() >= deadline:
            return preds
        time.sleep(_POLL_S)


def predict(
    store: Store, actor: Actor, conn: Connection, tasks: Any, *, wait_s: float = PREDICT_WAIT_S
) -> list[dict[str, Any]]:
    """Label Studio predictions for `tasks`, in order. Tasks prelabel does not know become assets first. A task
    without a prediction yet gets an empty one of version `PENDING` (so Label Studio asks again), unless no
    task has one: then the list is empty and Label Studio stores nothing."""
    if not isinstance(tasks, list) or not tasks:
        raise InvalidInput("/predict needs a non-empty 'tasks' list.")
    if len(tasks) > MAX_TASKS:
        raise InvalidInput(f"/predict takes at most {MAX_TASKS:,} tasks per call; got {len(tasks):,}.")
    records = [asset_for_task(conn.schema, task, f"task {i}") for i, task in enumerate(tasks, start=1)]
    ids = _ensure_assets(store, actor, conn, records)
    preds = _current_predictions(store, conn.project_id, [ids[r.external_id] for r in records], wait_s)
    if not preds:
        return []
    out = []
    for r in records:
        pred = preds.get(ids[r.external_id])
        if pred is None:
            out.append({"result": [], "score": 0.0, "model_version": PENDING})
        else:
            row, display = pred
            out.append(prediction_for(conn.schema, row.json_response, ls_model_version(display)))
    return out


# --- /webhook -----------------------------------------------------------------------------------------------
def _pairs(action: str, payload: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(task, annotation) pairs of an annotation event."""
    if action != "ANNOTATIONS_CREATED":
        return [(payload.get("task"), payload.get("annotation"))]
    anns, tasks = payload.get("annotation"), payload.get("task")
    if not isinstance(anns, list) or not isinstance(tasks, list):
        raise InvalidInput("ANNOTATIONS_CREATED needs 'annotation' and 'task' lists.")
    by_id = {task.get("id"): task for task in tasks if isinstance(task, dict)}
    return [(by_id.get(a.get("task")), a) for a in anns if isinstance(a, dict)]


def learn(store: Store, actor: Actor, conn: Connection, pairs: Iterable[tuple[Any, Any]]) -> int:
    """Turn Label Studio annotations into DEFAULT labels of the token's user (their lead time as the labeling
    time); skipped or empty annotations are ignored. Returns how many labels were written."""
    todo = []
    for i, (task, ann) in enumerate(pairs, start=1):
        where = f"annotation {i}"
        if not isinstance(ann, dict):
            raise InvalidInput(f"{where}: an annotation must be an object.")
        if ann.get("was_cancelled"):
            continue
        response = response_from_result(conn.schema, ann.get("result"), where)
        if response is not None:
            todo.append((asset_for_task(conn.schema, task, where, with_label=False), response, ann.get("lead_time")))
    if not todo:
        return 0
    ids = _ensure_assets(store, actor, conn, [a for a, _, _ in todo])
    for asset, response, lead_time in todo:
        create_label(store, actor, conn.project_id, ids[asset.external_id], json_response=response,
                     seconds_to_label=_lead_time(lead_time))
    return len(todo)


def webhook(store: Store, actor: Actor, payload: Any, *, project_id: int | None = None) -> dict[str, Any]:
    """Handle one Label Studio webhook event; events prelabel has no use for are acknowledged and ignored."""
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        raise InvalidInput("A Label Studio webhook needs a JSON object with an 'action'.")
    action = payload["action"]
    if action not in EVENTS:
        return {"status": "ignored", "action": action}
    project = payload.get("project")
    conn = connect(store, actor, ls_project=ls_project_uid(project), project_id=project_id,
                   label_config=project.get("label_config", "") if isinstance(project, dict) else "")
    if action in LEARN_EVENTS:
        return {"status": "ok", "action": action, "labels": learn(store, actor, conn, _pairs(action, payload))}
    if action == "TASKS_CREATED":
        tasks = payload.get("tasks")
        if not isinstance(tasks, list):
            raise InvalidInput("TASKS_CREATED needs a 'tasks' list.")
        records = [asset_for_task(conn.schema, task, f"task {i}") for i, task in enumerate(tasks, start=1)]
        return {"status": "ok", "action": action, "assets": len(_ensure_assets(store, actor, conn, records))}
    jobs = request_training(store, actor, conn.project_id, tier="both", reason="label-studio")
    return {"status": "ok", "action": action, "training_jobs": [j.id for j in jobs]}
