"""Label Studio JSON: importing Label Studio tasks as assets and exporting assets as Label Studio tasks.

A task is ``{"data": {...}, "meta": {...}, "annotations": [...], "predictions": [...]}`` (a task without
``data`` is read as its own data, as Label Studio's import does). The text is ``data[<text field>]`` of the
project's labeling config: the linked Label Studio project's (`service.label_studio`), else the one generated from
the interface (`label_studio_schema.label_config_for`, text field ``text``). Other ``data`` fields are the
asset's metadata. The external id is ``meta.external_id``, else ``ls-<task id>``, else a hash of the text (as the
file import does). The newest annotation that chose something becomes the asset's initial label; predictions
given as objects with a ``score`` become predictions of an "external" model version named after their
``model_version`` (Label Studio's own quick export lists prediction ids only: those are skipped).

The export writes one task per asset: its text and metadata in ``data``, its external id in
``meta.external_id`` (so a round trip through Label Studio keeps the ids), the label that counts as the one
annotation (with its labeling time as ``lead_time``) and the current prediction with its ``score`` and
``model_version``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from prelabel.domain import LabelType, Role
from prelabel.errors import InvalidInput
from prelabel.service._access import interface_of, require
from prelabel.service.assets import import_assets, iter_assets
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetIn, AssetOut, ImportResult, OnConflict, PredictionIn
from prelabel.service.label_studio_schema import (
    LSSchema,
    fits,
    label_config_for,
    ls_model_version,
    newest_answer,
    parse_label_config,
    prediction_for,
    response_from_result,
    result_from_response,
    task_external_id,
    task_text,
    text_id,
)
from prelabel.service.models import check_model_name
from prelabel.service.predictions import create_predictions
from prelabel.store import label_studio as ls_sql
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

_DEFAULT_MODEL = "label-studio"


def schema_of(s: Session, project: t.Project) -> tuple[LSSchema, str]:
    """The project's labeling config, parsed, and its text: the linked Label Studio project's while it still
    fits the interface, else one generated from the interface."""
    interface = interface_of(project)
    link = ls_sql.link_of_project(s, project.id)
    if link is not None:
        try:
            schema = parse_label_config(link.label_config)
        except InvalidInput:
            schema = None
        if schema is not None and fits(interface, schema):
            return schema, link.label_config
    config = label_config_for(interface)
    return parse_label_config(config), config


def label_config(store: Store, actor: Actor, project_id: int) -> str:
    """The Label Studio labeling config of a project (any member)."""
    with store.transaction(read_only=True) as s:
        project, _ = require(s, actor, project_id)
        return schema_of(s, project)[1]


# --- import -------------------------------------------------------------------------------------------------
def _tasks(data: bytes) -> list[Any]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput("The Label Studio file is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"The Label Studio file is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
    except RecursionError:
        raise InvalidInput(
            "The Label Studio file is nested too deeply to be a list of tasks; import the JSON file Label Studio "
            "exports."
        ) from None
    if isinstance(doc, dict):
        doc = [doc]  # Label Studio imports a single task object too
    if not isinstance(doc, list) or not doc:
        raise InvalidInput("A Label Studio import is a JSON array of tasks (as Label Studio exports them).")
    return doc


def _prediction(schema: LSSchema, pred: Any, where: str) -> tuple[str, dict[str, Any]] | None:
    """(model name, prelabel prediction response) of a Label Studio prediction object; None without a score
    (prelabel predictions carry probabilities) or without a choice prelabel knows."""
    if not isinstance(pred, dict):
        return None  # an id, as Label Studio's quick export lists them
    response = response_from_result(schema, pred.get("result"), where)
    if response is None:
        return None
    scores = {i.get("from_name"): i.get("score") for i in pred.get("result", []) if isinstance(i, dict)}
    jobs = {j.job: j.from_name for j in schema.jobs}
    for job, value in response.items():
        score = scores.get(jobs[job]) if scores.get(jobs[job]) is not None else pred.get("score")
        if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1:
            return None
        for c in value["categories"]:
            c["probability"] = float(score)
    name = str(pred.get("model_version") or _DEFAULT_MODEL)
    return check_model_name(name), response


def _record(schema: LSSchema, task: Any, where: str, seen: dict[str, int]) -> AssetIn:
    if not isinstance(task, dict):
        raise InvalidInput(f"{where}: a task must be a JSON object.")
    if "data" not in task:
        task = {"data": task}
    text = task_text(schema, task, where)
    ext = task_external_id(task, where)
    if ext is None:  # numbered like the file import's text ids, so that repeated texts stay apart
        base = text_id(text)
        seen[base] = seen.get(base, 0) + 1
        ext = base if seen[base] == 1 else f"{base}-{seen[base]}"
    meta = {k: v for k, v in task["data"].items() if k != schema.text_key}
    try:
        return AssetIn(external_id=ext, content=text, json_metadata=meta,
                       label=newest_answer(schema, task.get("annotations"), where))
    except ValidationError as exc:
        raise InvalidInput(f"{where}: {exc.errors()[0]['msg']}") from None


def import_tasks(
    store: Store, actor: Actor, project_id: int, data: bytes, *, on_conflict: OnConflict = "error"
) -> ImportResult:
    """Import a Label Studio JSON file (admin only): the assets, their labels and predictions. Everything is
    checked before anything is written; the assets with their labels are one transaction, the predictions of
    each model version one more."""
    tasks = _tasks(data)
    with store.transaction(read_only=True) as s:
        project, _ = require(s, actor, project_id, Role.ADMIN, "import assets")
        schema, _ = schema_of(s, project)
    records: list[AssetIn] = []
    predictions: dict[str, list[PredictionIn]] = defaultdict(list)
    seen: dict[str, int] = {}
    for i, task in enumerate(tasks, start=1):
        rec = _record(schema, task, f"task {i}", seen)
        records.append(rec)
        preds = task.get("predictions") if isinstance(task, dict) else None
        for pred in preds if isinstance(preds, list) else []:
            got = _prediction(schema, pred, f"task {i}")
            if got is not None:
                predictions[got[0]].append(PredictionIn(external_id=rec.external_id, json_response=got[1]))
    result = import_assets(store, actor, project_id, records, on_conflict=on_conflict)
    for name, items in predictions.items():
        create_predictions(store, actor, project_id, items, model_name=name)
    return result


# --- export -------------------------------------------------------------------------------------------------
def _effective(asset: AssetOut) -> Any:
    for kind in (LabelType.REVIEW, LabelType.DEFAULT):
        for label in asset.labels:  # newest first
            if label.label_type == kind:
                return label
    return None


def task_of(schema: LSSchema, asset: AssetOut) -> dict[str, Any]:
    """The Label Studio task of an asset (with its labels and current prediction loaded)."""
    data = {k: v for k, v in asset.json_metadata.items() if k != schema.text_key}
    data[schema.text_key] = asset.content
    task: dict[str, Any] = {"data": data, "meta": {"external_id": asset.external_id}, "annotations": [],
                            "predictions": []}
    label = _effective(asset)
    if label is not None:
        ann: dict[str, Any] = {"result": result_from_response(schema, label.json_response)}
        if label.seconds_to_label is not None:
            ann["lead_time"] = label.seconds_to_label
        task["annotations"].append(ann)
    pred = asset.current_prediction
    if pred is not None:
        task["predictions"].append(prediction_for(schema, pred.json_response, ls_model_version(pred.model_name)))
    return task


def export_tasks(store: Store, actor: Actor, project_id: int) -> Iterator[bytes]:
    """Stream every asset as a Label Studio task: one JSON array (the role check happens on the call)."""
    with store.transaction(read_only=True) as s:
        project, _ = require(s, actor, project_id)
        schema, _ = schema_of(s, project)
    items = iter_assets(store, project_id, include_labels=True, include_prediction=True)
    return _stream(schema, items)


def _stream(schema: LSSchema, items: Iterator[AssetOut]) -> Iterator[bytes]:
    yield b"["
    buf: list[str] = []
    first = True
    for asset in items:
        buf.append(("\n" if first else ",\n") + json.dumps(task_of(schema, asset), ensure_ascii=False))
        first = False
        if len(buf) >= 500:
            yield "".join(buf).encode()
            buf = []
    yield ("".join(buf) + "\n]\n").encode()
