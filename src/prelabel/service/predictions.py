"""Predictions: bulk pushes through the API (validated, one transaction), the worker's bulk store, reads.

A prediction belongs to (asset, model version); pushing the same asset again for the same version replaces it
(upsert), so predictions are never duplicated. "The current prediction" of an asset is its prediction from the
newest READY model version the project trusts that has one, else from the newest other one (project setting
``suggestions_from``; see `prelabel.store.repositories`): by default the trainer's versions, so predictions pushed
from outside are kept and listed but suggested only for texts no trained version has predicted, and a push says so.

A pushed model is named by its family (``my-model``); the server numbers its versions like the trainer's
(``my-model-4``, the name its predictions carry). ``new_version=True`` starts the next version of the family;
without it a push adds to the family's newest version (or to the version named in full, ``my-model-4``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prelabel.domain import ModelStatus, Role, check_storable, validate_prediction_response
from prelabel.errors import InvalidInput, NotFound
from prelabel.service._access import asset_or_404, interface_of, require
from prelabel.service.assets import prediction_out
from prelabel.service.auth import Actor
from prelabel.service.dto import PredictionIn, PredictionOut
from prelabel.service.models import check_model_name, new_model_version
from prelabel.store import models as models_repo
from prelabel.store import predictions as predictions_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

MAX_PREDICTION_PAGE = 1000
_UPDATE_COLS = ["json_response", "confidence", "created_at"]


def prediction_confidence(response: dict[str, Any]) -> float:
    """Max probability (0-1) over every job's predicted categories (or its probabilities when none chosen)."""
    best = 0.0
    for value in response.values():
        if not isinstance(value, dict):
            continue
        probs: list[float] = [
            float(c["probability"])
            for c in value.get("categories", [])
            if isinstance(c, dict) and isinstance(c.get("probability"), int | float)
        ]
        if not probs and isinstance(value.get("probabilities"), dict):
            probs = [float(p) for p in value["probabilities"].values() if isinstance(p, int | float)]
        if probs:
            best = max(best, float(max(probs)))
    return best


@dataclass(frozen=True)
class PushResult:
    created: int
    model_version_id: int
    model_name: str  # the version's display name, which its predictions carry
    note: str | None  # why these predictions are not the suggestions labelers see, when they are not


def create_predictions(
    store: Store,
    actor: Actor,
    project_id: int,
    items: Sequence[PredictionIn],
    *,
    model_name: str | None = None,
    model_version_id: int | None = None,
) -> int:
    """`push_predictions`, returning how many were stored."""
    return push_predictions(
        store, actor, project_id, items, model_name=model_name, model_version_id=model_version_id
    ).created


def push_predictions(
    store: Store,
    actor: Actor,
    project_id: int,
    items: Sequence[PredictionIn],
    *,
    model_name: str | None = None,
    model_version_id: int | None = None,
    new_version: bool = False,
) -> PushResult:
    """Store predictions in one transaction (admin only).

    The model version is `model_version_id`, or with `new_version` a new READY "external" version of family
    `model_name`, or the project's version whose display name ``f"{name}-{version}"`` or family name equals
    `model_name` (the newest such), or else a new READY "external" version named `model_name`. Every item is
    validated (asset known, response valid against the interface, confidence in 0-100) before anything is
    written.
    """
    if not items:
        raise InvalidInput("No predictions given.")
    if model_name is None and model_version_id is None:
        raise InvalidInput("Say which model made the predictions: give model_name (e.g. 'my-model').")
    if new_version and (model_name is None or model_version_id is not None):
        raise InvalidInput("new_version starts the next version of model_name: give model_name, not model_version_id.")
    if model_name is not None:
        model_name = check_model_name(model_name)
    with store.transaction() as s:
        project, _ = require(s, actor, project_id, Role.ADMIN, "push predictions")
        interface = interface_of(project)
        responses: list[dict[str, Any]] = []
        for i, item in enumerate(items, start=1):
            if item.asset_id is None and not item.external_id:
                raise InvalidInput(f"Prediction {i}: give the asset's external_id or asset_id.")
            check_storable(item.external_id, f"Prediction {i}: the external id")
            try:
                responses.append(validate_prediction_response(interface, item.json_response))
            except InvalidInput as exc:
                ref = item.external_id if item.external_id is not None else item.asset_id
                raise InvalidInput(f"Prediction {i} (asset {ref!r}): {exc.message}") from None
        by_ext = repo.asset_ids_by_external_id(
            s, project_id, [it.external_id for it in items if it.asset_id is None and it.external_id]
        )
        known_ids = repo.existing_asset_ids(
            s, project_id, [it.asset_id for it in items if it.asset_id is not None]
        )
        asset_ids: list[int] = []
        unknown: list[Any] = []
        for item in items:
            if item.asset_id is not None:
                if item.asset_id not in known_ids:
                    unknown.append(item.asset_id)
                asset_ids.append(item.asset_id)
            else:
                aid = by_ext.get(item.external_id or "")
                if aid is None:
                    unknown.append(item.external_id)
                asset_ids.append(aid or 0)
        if unknown:
            raise InvalidInput(
                f"{len(unknown)} prediction(s) name assets that are not in project {project_id}: "
                f"{unknown[:10]}; "
                "nothing was stored.",
                details={"unknown": unknown[:100]},
            )
        if len(set(asset_ids)) != len(asset_ids):
            seen: set[int] = set()
            dup = next(a for a in asset_ids if a in seen or seen.add(a))  # type: ignore[func-returns-value]
            raise InvalidInput(f"Asset {dup} appears twice in this push; send one prediction per asset.")
        if model_version_id is not None:
            mv = models_repo.model_version_of_project(s, project_id, model_version_id)
            if mv is None:
                raise InvalidInput(
                    f"Model version {model_version_id} does not belong to project {project_id}."
                )
        else:
            assert model_name is not None
            mv = None if new_version else repo.model_version_by_display_name(s, project_id, model_name)
            if mv is None:
                mv = new_model_version(
                    s, project_id, name=model_name, tier="external", status=ModelStatus.READY.value
                )
        now = t.utcnow()
        rows = [
            {
                "project_id": project_id,
                "asset_id": aid,
                "model_version_id": mv.id,
                "json_response": resp,
                "confidence": prediction_confidence(resp),
                "created_at": now,
            }
            for aid, resp in zip(asset_ids, responses, strict=True)
        ]
        n = repo.upsert_rows(
            s, t.Prediction, rows, conflict_cols=["asset_id", "model_version_id"], update_cols=_UPDATE_COLS
        )
        display = f"{mv.name}-{mv.version}"
        return PushResult(n, mv.id, display, _not_suggested_note(s, project, mv, display))


def _not_suggested_note(s: Session, project: t.Project, mv: t.ModelVersion, display: str) -> str | None:
    """Why a pushed version's predictions are not what labelers see, when the project trusts its trainer."""
    if mv.tier != repo.EXTERNAL_TIER or repo.suggestion_source(project.settings) != "trainer":
        return None
    serving = repo.serving_version(s, project.id)
    if serving is None or serving.tier == repo.EXTERNAL_TIER:
        return None
    trained = f"{serving.name}-{serving.version}"
    return (
        f"Stored as model version {display} (tier external). Labelers see the suggestions of the project's own "
        f"model {trained} (project setting suggestions_from=trainer); {display}'s are suggested only for texts no "
        "trained version has predicted. Set suggestions_from=external to show them first."
    )


def bulk_store_predictions(
    store: Store,
    project_id: int,
    model_version_id: int,
    rows: Iterable[tuple[int, dict[str, Any], float]],
    *,
    batch: int = 5000,
) -> int:
    """Worker path (no actor, no per-row validation): upsert (asset_id, json_response, confidence) rows for a
    model version in one transaction, sent in batches (an asset repeated within a batch: the last row wins).
    Returns how many rows were sent."""
    now = t.utcnow()
    with store.transaction() as s:
        if models_repo.model_version_of_project(s, project_id, model_version_id) is None:
            raise NotFound(f"Model version {model_version_id} not found in project {project_id}.")
        n = 0
        part: dict[int, dict[str, Any]] = {}

        def flush() -> int:
            return repo.upsert_rows(
                s,
                t.Prediction,
                list(part.values()),
                conflict_cols=["asset_id", "model_version_id"],
                update_cols=_UPDATE_COLS,
            )

        for aid, resp, conf in rows:
            part[aid] = {
                "project_id": project_id,
                "asset_id": aid,
                "model_version_id": model_version_id,
                "json_response": resp,
                "confidence": float(conf),
                "created_at": now,
            }
            if len(part) >= batch:
                n += flush()
                part = {}
        n += flush()
        return n


def get_current_prediction(
    store: Store, actor: Actor, project_id: int, asset_id: int
) -> PredictionOut | None:
    """The asset's prediction from the newest model version that has one (None if never predicted)."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        asset_or_404(s, project_id, asset_id)
        found = repo.current_predictions(s, [asset_id]).get(asset_id)
        return prediction_out(*found) if found else None


def list_predictions(
    store: Store,
    actor: Actor,
    project_id: int,
    *,
    asset_id: int | None = None,
    model_version_id: int | None = None,
    after: int | None = None,
    limit: int = 100,
    include_unready: bool = False,
) -> list[PredictionOut]:
    """Predictions in id order (every version's: history is kept); keyset: pass the last id as `after`.

    Only READY model versions' predictions are listed unless `include_unready` or a `model_version_id` is given:
    a TRAINING version's are half-written, a FAILED one's abandoned, a WITHDRAWN one's taken out of service, and
    none of them is what labelers see. Naming a version asks for its predictions whatever its status."""
    if not 1 <= int(limit) <= MAX_PREDICTION_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PREDICTION_PAGE}; got {limit}.")
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        rows = predictions_repo.predictions_page(
            s,
            project_id,
            asset_id=asset_id,
            model_version_id=model_version_id,
            after_id=int(after) if after is not None else None,
            limit=int(limit),
            ready_only=not include_unready and model_version_id is None,
        )
        return [prediction_out(row.prediction, row.display_name) for row in rows]
