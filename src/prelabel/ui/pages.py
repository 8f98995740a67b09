"""The UI's pages. Each handler calls the service layer (which checks roles and validates) and renders a
template.

    GET  /login  POST /login  GET /logout  POST /logout
    GET  /account                           account page;  POST /account/password  (ui/account.py)
    GET  /                                  project list
    GET  /projects/{id}                     counts + import form;   POST /projects/{id}/import
    GET  /projects/{id}/label               next asset from the queue
    POST /projects/{id}/label               save a label;  POST …/label/skip;  POST …/label/undo
    GET  /projects/{id}/review              review list (reviewers, admins);  POST …/review/{asset_id}
    GET  /projects/{id}/dashboard           model dashboard;  GET …/dashboard/jobs (htmx fragment)
    POST /projects/{id}/train               "Train now" (admins)

Writes answer with a 303 redirect (post/redirect/get), so a reload never submits twice.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from prelabel.domain import ROLE_RANK, Interface, LabelType, Role, parse_interface, response_category_names
from prelabel.errors import (
    InvalidInput,
    PayloadTooLarge,
    PermissionDenied,
    PrelabelError,
    TooManyAttempts,
    Unauthenticated,
)
from prelabel.service.analytics import SuggestionQuality, dashboard, model_score
from prelabel.service.assets import count_assets, get_asset, import_parsed
from prelabel.service.auth import Actor, end_session, log_in
from prelabel.service.dto import AssetFilter, AssetOut, ModelVersionOut, PredictionOut, ProjectOut
from prelabel.service.importing import parse_file
from prelabel.service.labels import create_label, undo_label
from prelabel.service.models import (
    get_model_version,
    list_model_versions,
    serving_model_version,
    withdrawn_zero_shot,
)
from prelabel.service.predictions import get_current_prediction
from prelabel.service.projects import get_project, list_projects, project_stats
from prelabel.service.queue import next_asset, review_list, skip_asset
from prelabel.service.spelling import UI
from prelabel.service.training import list_training_jobs, request_training
from prelabel.store.engine import Store
from prelabel.ui import account, charts
from prelabel.ui.web import (
    UIRoute,
    check_csrf,
    client_info,
    current_actor,
    flash,
    form_data,
    get_store,
    login_limits,
    login_session,
    now,
    redirect,
    render,
    safe_next,
    session_policy,
)

router = APIRouter(route_class=UIRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)

ActorDep = Annotated[Actor, Depends(current_actor)]
StoreDep = Annotated[Store, Depends(get_store)]
FormDep = Annotated[FormData, Depends(form_data)]

ACTIVE_JOB_STATES = ("QUEUED", "RUNNING")
LOW_CONFIDENCE = 0.6
UNSURE_BAND = 0.15
DEFAULT_THRESHOLD = 0.5
# A model version's tier (`model_versions.tier`) in plain words: the kind of model that made a suggestion.
TIER_WORDS = {
    "zero-shot": "zero-shot model",
    "fast": "fast model",
    "search": "search model",
    "external": "external model",
}
LIST_COUNTS_FOR = 30
VERSION_ROWS = 25


def _str(form: FormData, key: str, default: str = "") -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else default


def _int(form: FormData, key: str) -> int | None:
    raw = _str(form, key)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"The form field {key!r} must be a whole number; got {raw!r}.") from None


def _project(store: Store, actor: Actor, project_id: int) -> tuple[ProjectOut, Interface]:
    project = get_project(store, actor, project_id)
    return project, parse_interface(project.interface)


def _at_least(project: ProjectOut, role: Role) -> bool:
    return ROLE_RANK[project.role] >= ROLE_RANK[role]


# --- login / logout -----------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, store: StoreDep, form: FormDep) -> Response:
    username = _str(form, "username")
    password = form.get("password")
    target = safe_next(_str(form, "next", "/"))
    try:
        actor, secret = log_in(
            store,
            username,
            password if isinstance(password, str) else "",
            client_info(request),
            sessions=session_policy(request),
            limits=login_limits(request),
            now=now(request),
        )
    except (Unauthenticated, TooManyAttempts) as exc:
        # 429 while delayed: the message says when to try again, Retry-After says it to programs
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
        return render(
            request,
            "login.html",
            {"next": target, "username": username, "error": exc.message},
            status_code=exc.status_code,
            headers=retry,
        )
    login_session(request, actor, secret)
    return redirect(target)


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request) -> Response:
    return render(request, "logout.html")


@router.post("/logout")
def logout(request: Request, store: StoreDep) -> Response:
    secret = request.session.get("sid")
    end_session(store, secret if isinstance(secret, str) else "", now=now(request))
    request.session.clear()
    return redirect("/login")


# --- projects -----------------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def project_list(request: Request, actor: ActorDep, store: StoreDep) -> Response:
    projects = list_projects(store, actor)
    # two indexed counts per project (the full project_stats is for the project page); the first 30 only
    stats = {
        p.id: {
            "n_assets": count_assets(store, actor, p.id, AssetFilter()),
            "n_labeled": count_assets(store, actor, p.id, AssetFilter(labeled=True)),
        }
        for p in projects[:LIST_COUNTS_FOR]
    }
    return render(request, "projects.html", {"actor": actor, "projects": projects, "stats": stats})


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, project_id: int, actor: ActorDep, store: StoreDep) -> Response:
    return _render_project(request, store, actor, project_id)


def _render_project(
    request: Request,
    store: Store,
    actor: Actor,
    project_id: int,
    *,
    status_code: int = 200,
    import_error: str | None = None,
    import_form: dict[str, str] | None = None,
) -> Response:
    project, interface = _project(store, actor, project_id)
    stats = project_stats(store, actor, project_id)
    classes = [
        {
            "job": job,
            "bars": charts.bars(
                [
                    (c.name or c.key, stats.class_counts.get(job.name, {}).get(c.key, 0))
                    for c in job.categories
                ]
            ),
        }
        for job in interface.jobs
    ]
    return render(
        request,
        "project.html",
        {
            "actor": actor,
            "project": project,
            "interface": interface,
            "stats": stats,
            "classes": classes,
            "can_import": _at_least(project, Role.ADMIN),
            "can_review": _at_least(project, Role.REVIEWER),
            "import_error": import_error,
            "import_form": import_form or {},
        },
        status_code=status_code,
    )


@router.post("/projects/{project_id}/import", response_class=HTMLResponse)
def import_file(
    request: Request, project_id: int, actor: ActorDep, store: StoreDep, form: FormDep
) -> Response:
    settings = request.app.state.ui_settings
    fields = {
        k: _str(form, k)
        for k in ("text_column", "id_column", "metadata_columns", "label_column", "format", "on_conflict")
    }
    project, interface = _project(store, actor, project_id)
    if not _at_least(project, Role.ADMIN):
        raise PermissionDenied("Only the project's admins can import assets.")
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("Choose a CSV or JSONL file to import.")
        if upload.size is not None and upload.size > settings.max_upload_bytes:
            raise PayloadTooLarge(
                f"The file is {upload.size:,} bytes; the largest accepted upload is "
                f"{settings.max_upload_bytes:,} bytes. Import it with `prelabel import` instead."
            )
        data = upload.file.read()
        fmt = fields["format"] or _guess_format(upload.filename)
        if fmt not in ("csv", "jsonl", "json", "parquet"):
            raise InvalidInput(f"Unknown file format {fmt!r}; choose CSV, JSONL, JSON or Parquet.")
        on_conflict = fields["on_conflict"] or "skip"
        if on_conflict not in ("skip", "update", "error"):
            raise InvalidInput(f"Unknown on-conflict choice {on_conflict!r}; use skip, update or error.")
        metadata = [c.strip() for c in fields["metadata_columns"].split(",") if c.strip()] or None
        parsed = parse_file(
            data,
            fmt=fmt,  # type: ignore[arg-type]
            text_column=fields["text_column"] or "text",
            id_column=fields["id_column"] or None,  # empty: detected (service.importing)
            metadata_columns=metadata,
            label_column=fields["label_column"] or None,
            interface=interface,
            spelling=UI,
        )
        result = import_parsed(
            store, actor, project_id, parsed, on_conflict=on_conflict, spelling=UI  # type: ignore[arg-type]
        )
    except PrelabelError as exc:
        status = exc.status_code if exc.status_code < 500 else 400
        return _render_project(
            request,
            store,
            actor,
            project_id,
            status_code=status,
            import_error=exc.message,
            import_form=fields,
        )
    parts = [f"{result.created:,} created", f"{result.updated:,} updated", f"{result.skipped:,} skipped"]
    if getattr(result, "labels_created", 0):
        parts.append(f"{result.labels_created:,} labels")
    ids = f"IDs from column {result.id_column!r}" if result.id_column else "IDs made from each text"
    flash(request, f"Imported {upload.filename}: " + ", ".join(parts) + f". {ids}.")
    return redirect(f"/projects/{project_id}")


def _guess_format(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    return "csv"


# --- labeling -----------------------------------------------------------------------------------------------
def _job_views(
    interface: Interface,
    prediction: PredictionOut | None,
    chosen: dict[str, Any] | None = None,
    *,
    version: ModelVersionOut | None = None,
) -> list[dict[str, Any]]:
    """Per job: its categories with index, hotkey, description, probability and whether each is preselected.
    `version`: the model version that made `prediction`, whose metrics may hold the multi-choice thresholds."""
    views = []
    pred = prediction.json_response if prediction is not None else {}
    for job in interface.jobs:
        entry = pred.get(job.name) if isinstance(pred, dict) else None
        probs: dict[str, float] = {}
        if isinstance(entry, dict):
            probs = {k: float(v) for k, v in (entry.get("probabilities") or {}).items()}
            for c in entry.get("categories", []):
                if isinstance(c, dict) and "probability" in c:
                    probs.setdefault(c["name"], float(c["probability"]))
        predicted = set(response_category_names(pred, job.name)) if pred else set()
        selected = set(response_category_names(chosen, job.name)) if chosen is not None else predicted
        top = max(probs.values()) if probs else None
        cats = []
        for i, cat in enumerate(job.categories):
            p = probs.get(cat.key)
            cats.append(
                {
                    "key": cat.key,
                    "name": cat.name or cat.key,
                    "description": cat.description,
                    "index": i + 1,
                    "number_key": str(i + 1) if i < 9 else None,
                    "hotkey": cat.hotkey,
                    "probability": p,
                    "predicted": cat.key in predicted,
                    "checked": cat.key in selected,
                }
            )
        thresholds = _thresholds(job.name, entry, version) if job.input == "multi" else {}
        views.append(
            {
                "name": job.name,
                "instruction": job.instruction,
                "input": job.input,
                "required": job.required,
                "categories": cats,
                "predicted": [c for c in cats if c["predicted"]],
                "top": top,
                "uncertain": _uncertain(job.input, probs, thresholds),
            }
        )
    return views


def _threshold_map(raw: Any, keys: Any) -> dict[str, float]:
    """{category: threshold} from a mapping, or from a list aligned with `keys`; non-numbers and values
    outside (0, 1) are left out."""
    if isinstance(raw, list) and isinstance(keys, list) and len(raw) == len(keys):
        raw = dict(zip((str(k) for k in keys), raw, strict=True))
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1
    }


def _thresholds(job_name: str, entry: Any, version: ModelVersionOut | None) -> dict[str, float]:
    """A multi-choice job's per-category decision thresholds: the prediction's own (``thresholds`` in its job
    entry), else its model version's ``metrics.jobs.<job>.thresholds``; a category with neither uses 0.5."""
    if isinstance(entry, dict) and entry.get("thresholds") is not None:
        return _threshold_map(entry.get("thresholds"), None)
    if version is not None:
        m = _job_metrics(version.metrics).get(job_name, {})
        return _threshold_map(m.get("thresholds"), m.get("categories"))
    return {}


def _recentred(p: float, t: float) -> float:
    """`p` on the scale where the decision threshold `t` is 0.5 (0 and 1 stay put), as the trainer's
    active-learning strategies measure a multi-choice category's uncertainty."""
    return 0.5 * p / t if p < t else 0.5 + 0.5 * (p - t) / (1.0 - t)


def _uncertain(input_kind: str, probs: dict[str, float], thresholds: dict[str, float] | None = None) -> bool:
    """Single choice: the top probability is under LOW_CONFIDENCE. Multi choice: some category is a coin flip
    for the model: its probability, recentred on the category's own threshold (0.5 when the model has none),
    within UNSURE_BAND of 0.5 (with threshold t: between 0.7·t and t + 0.3·(1 - t); 35-65 % at 0.5)."""
    if not probs:
        return False
    if input_kind == "multi":
        th = thresholds or {}
        return any(
            abs(_recentred(p, th.get(k, DEFAULT_THRESHOLD)) - 0.5) < UNSURE_BAND for k, p in probs.items()
        )
    return max(probs.values()) < LOW_CONFIDENCE


def _labels_text(n: int) -> str:
    return "no labels yet" if n <= 0 else ("1 label" if n == 1 else f"{n:,} labels")


def suggestion_source(version: ModelVersionOut | None, model_name: str = "") -> str:
    """Which kind of model made a suggestion, in plain words: "Zero-shot suggestion (no labels yet)" for a
    version built from the category descriptions, "Suggested by automl-7 (fast model, 30 labels)" otherwise;
    an unknown tier is named as it is stored."""
    if version is None:
        return f"Suggested by {model_name}" if model_name else "Suggested by a model"
    n = version.n_labels or 0
    if version.tier == "zero-shot":
        if n <= 0:
            return "Zero-shot suggestion (no labels yet)"
        return f"Zero-shot suggestion by {version.display_name} ({_labels_text(n)})"
    kind = TIER_WORDS.get(version.tier, f"{version.tier} model" if version.tier else "model")
    if version.tier == "external" and n <= 0:
        return f"Suggested by {version.display_name} ({kind})"
    return f"Suggested by {version.display_name} ({kind}, {_labels_text(n)})"


def version_summary(version: ModelVersionOut) -> str:
    """The status line's words for the serving model: "automl-7, a fast model trained on 30 labels"."""
    if version.tier == "zero-shot":
        what = "a zero-shot model read from the category descriptions"
        return f"{version.display_name}, {what}" + (
            "" if version.n_labels <= 0 else f" ({_labels_text(version.n_labels)})"
        )
    kind = TIER_WORDS.get(version.tier, f"{version.tier} model" if version.tier else "model")
    article = "an" if kind[:1] in "aeiou" else "a"
    if version.tier == "external" and version.n_labels <= 0:
        return f"{version.display_name}, {article} {kind}"
    n = max(version.n_labels, 0)
    return f"{version.display_name}, {article} {kind} trained on {n:,} label{'' if n == 1 else 's'}"


def _response_from_form(interface: Interface, form: FormData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for job in interface.jobs:
        values = [v for v in form.getlist(f"job:{job.name}") if isinstance(v, str) and v]
        if job.input == "single" and len(values) > 1:
            values = values[:1]
        if not values and job.required:
            raise InvalidInput(
                f"Choose a category for {job.name!r} (number keys or click), then press Enter."
            )
        out[job.name] = {"categories": [{"name": v} for v in values]}
    return out


def _last_label(request: Request, project_id: int) -> dict[str, Any] | None:
    last = request.session.get("last_label")
    if isinstance(last, dict) and last.get("project_id") == project_id:
        return last
    return None


@router.get("/projects/{project_id}/label", response_class=HTMLResponse)
def label_page(
    request: Request, project_id: int, actor: ActorDep, store: StoreDep, asset: int | None = None
) -> Response:
    project, interface = _project(store, actor, project_id)
    item: AssetOut | None
    if asset is not None:
        item = get_asset(store, actor, project_id, asset)
        if item.current_prediction is None:
            item.current_prediction = _current_prediction(store, actor, project_id, asset)
    else:
        item = next_asset(store, actor, project_id)
    return _render_label(request, store, actor, project, interface, item)


def _current_prediction(store: Store, actor: Actor, project_id: int, asset_id: int) -> PredictionOut | None:
    try:
        return get_current_prediction(store, actor, project_id, asset_id)
    except PrelabelError:
        return None


def _render_label(
    request: Request,
    store: Store,
    actor: Actor,
    project: ProjectOut,
    interface: Interface,
    item: AssetOut | None,
    *,
    error: str | None = None,
    chosen: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    prediction = item.current_prediction if item is not None else None
    status = _model_status(
        store, actor, project, None, prediction.model_version_id if prediction is not None else 0
    )
    status["asset_id"] = item.id if item is not None else None
    status["poll"] = item is not None and (status["active_job"] is not None or prediction is None)
    version = _version_of(store, actor, project.id, prediction, status["newest"])
    return render(
        request,
        "label.html",
        {
            "project": project,
            "asset": item,
            "prediction": prediction,
            "model_version": version,
            "source": suggestion_source(version, prediction.model_name) if prediction is not None else None,
            "withdrawn": withdrawn_zero_shot(store, project.id) if prediction is None else None,
            "jobs": _job_views(interface, prediction, chosen, version=version) if item is not None else [],
            "shown_at": f"{time.time():.3f}",
            "last": _last_label(request, project.id),
            "done_count": int(request.session.get(f"count:{project.id}", 0)),
            "error": error,
            "can_review": _at_least(project, Role.REVIEWER),
            "status": status,
        },
        status_code=status_code,
    )


def _version_of(
    store: Store,
    actor: Actor,
    project_id: int,
    prediction: PredictionOut | None,
    newest: ModelVersionOut | None,
) -> ModelVersionOut | None:
    """The model version that made the shown prediction (usually the newest one, already read)."""
    if prediction is None:
        return None
    if newest is not None and newest.id == prediction.model_version_id:
        return newest
    try:
        return get_model_version(store, actor, project_id, prediction.model_version_id)
    except PrelabelError:
        return None


def _seconds(form: FormData) -> float | None:
    """The JS timer's active seconds, else the time since the page was rendered (capped at an hour)."""
    for key in ("seconds", "shown_at"):
        raw = _str(form, key)
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if key == "shown_at":
            value = time.time() - value
        if 0 <= value < 24 * 3600:
            return round(min(value, 3600.0), 3)
    return None


@router.get("/projects/{project_id}/label/model-status", response_class=HTMLResponse)
def model_status(
    request: Request,
    project_id: int,
    actor: ActorDep,
    store: StoreDep,
    asset: int | None = None,
    shown: int | None = None,
) -> Response:
    """htmx fragment under the labeling form: the trainer's state, and whether a newer model now has a
    suggestion for the asset on screen (`shown`: the model version id shown with it, 0 for none)."""
    project, _ = _project(store, actor, project_id)
    status = _model_status(store, actor, project, asset, shown)
    return render(request, "_model_status.html", {"project": project, "status": status})


def _model_status(
    store: Store, actor: Actor, project: ProjectOut, asset_id: int | None, shown: int | None
) -> dict[str, Any]:
    jobs = list_training_jobs(store, actor, project.id, limit=5)
    # a model on its way (a prepare job trains nothing)
    active = next((j for j in jobs if j.status in ACTIVE_JOB_STATES and j.tier != "prepare"), None)
    newest = serving_model_version(store, project.id)  # membership checked by get_project
    fresher = None
    if asset_id is not None and newest is not None and newest.id != (shown or 0):
        pred = _current_prediction(store, actor, project.id, asset_id)
        if pred is not None and pred.model_version_id != (shown or 0):
            fresher = pred
    score, metric = model_score(newest.metrics) if newest is not None else (None, None)
    return {
        "project": project,
        "score": score,
        "metric": metric,
        "asset_id": asset_id,
        "shown": shown or 0,
        "active_job": active,
        "newest": newest,
        "newest_summary": version_summary(newest) if newest is not None else None,
        "fresher": fresher,
        # keep polling while a model is on its way or the asset on screen has no suggestion yet
        "poll": asset_id is not None and fresher is None and (active is not None or not shown),
    }


@router.post("/projects/{project_id}/label", response_class=HTMLResponse)
def submit_label(
    request: Request, project_id: int, actor: ActorDep, store: StoreDep, form: FormDep
) -> Response:
    project, interface = _project(store, actor, project_id)
    asset_id = _int(form, "asset_id")
    if asset_id is None:
        raise InvalidInput("The form has no asset_id; reload the labeling page.")
    model_version_id = _int(form, "model_version_id")
    try:
        response = _response_from_form(interface, form)
        label = create_label(
            store,
            actor,
            project_id,
            asset_id,
            json_response=response,
            label_type=LabelType.DEFAULT,
            seconds_to_label=_seconds(form),
            model_version_id=model_version_id,
        )
    except InvalidInput as exc:
        item = get_asset(store, actor, project_id, asset_id)
        if item.current_prediction is None:
            item.current_prediction = _current_prediction(store, actor, project_id, asset_id)
        partial = {
            job.name: {
                "categories": [{"name": v} for v in form.getlist(f"job:{job.name}") if isinstance(v, str)]
            }
            for job in interface.jobs
        }
        return _render_label(
            request, store, actor, project, interface, item, error=exc.message, chosen=partial,
            status_code=422,
        )
    request.session["last_label"] = {"project_id": project_id, "label_id": label.id, "asset_id": asset_id}
    key = f"count:{project_id}"
    request.session[key] = int(request.session.get(key, 0)) + 1
    return redirect(f"/projects/{project_id}/label")


@router.post("/projects/{project_id}/label/skip")
def skip(request: Request, project_id: int, actor: ActorDep, store: StoreDep, form: FormDep) -> Response:
    asset_id = _int(form, "asset_id")
    if asset_id is None:
        raise InvalidInput("The form has no asset_id; reload the labeling page.")
    skip_asset(store, actor, project_id, asset_id)
    return redirect(f"/projects/{project_id}/label")


@router.post("/projects/{project_id}/label/undo")
def undo(request: Request, project_id: int, actor: ActorDep, store: StoreDep) -> Response:
    last = _last_label(request, project_id)
    if last is None:
        flash(request, "There is no label of yours to undo here.", "error")
        return redirect(f"/projects/{project_id}/label")
    undo_label(store, actor, project_id, int(last["label_id"]))
    request.session.pop("last_label", None)
    key = f"count:{project_id}"
    request.session[key] = max(0, int(request.session.get(key, 0)) - 1)
    flash(request, "Undone: your last label was removed. Label this asset again.")
    return redirect(f"/projects/{project_id}/label?asset={int(last['asset_id'])}")


# --- review -------------------------------------------------------------------------------------------------
def _effective(item: AssetOut) -> dict[str, Any] | None:
    for lab in item.labels:
        if lab.label_type == LabelType.REVIEW:
            return lab.json_response
    for lab in item.labels:
        if lab.label_type == LabelType.DEFAULT:
            return lab.json_response
    return None


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request, project_id: int, actor: ActorDep, store: StoreDep, after: str | None = None
) -> Response:
    project, interface = _project(store, actor, project_id)
    if not _at_least(project, Role.REVIEWER):
        raise PermissionDenied("Only reviewers and admins can open the review list of this project.")
    page = review_list(store, actor, project_id, after=after, limit=20)
    items = []
    for item in page.items:
        label = _effective(item)
        items.append(
            {
                "asset": item,
                "label": label,
                "author": next((lab.author for lab in item.labels), None),
                "jobs": _job_views(interface, item.current_prediction, label),
            }
        )
    return render(
        request,
        "review.html",
        {
            "project": project,
            "items": items,
            "next_cursor": page.next_cursor,
            "after": after,
            "can_review": True,
        },
    )


@router.post("/projects/{project_id}/review/{asset_id}")
def review_submit(
    request: Request, project_id: int, asset_id: int, actor: ActorDep, store: StoreDep, form: FormDep
) -> Response:
    project, interface = _project(store, actor, project_id)
    if not _at_least(project, Role.REVIEWER):
        raise PermissionDenied("Only reviewers and admins can review labels in this project.")
    action = _str(form, "action", "correct")
    item = get_asset(store, actor, project_id, asset_id)
    if action == "accept":
        response = _effective(item)
        if response is None:
            raise InvalidInput(
                f"Asset {asset_id} has no label to accept; choose a category and save a correction."
            )
    else:
        response = _response_from_form(interface, form)
    prediction = item.current_prediction or _current_prediction(store, actor, project_id, asset_id)
    create_label(
        store,
        actor,
        project_id,
        asset_id,
        json_response=response,
        label_type=LabelType.REVIEW,
        model_version_id=prediction.model_version_id if prediction is not None else None,
    )
    verb = "Accepted" if action == "accept" else "Corrected"
    flash(request, f"{verb} the label of asset {item.external_id}.")
    after = _str(form, "after")
    return redirect(f"/projects/{project_id}/review" + (f"?after={after}" if after else ""))


# --- dashboard ----------------------------------------------------------------------------------------------
@router.get("/projects/{project_id}/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, project_id: int, actor: ActorDep, store: StoreDep) -> Response:
    project, _interface = _project(store, actor, project_id)
    data = dashboard(store, actor, project_id)
    versions = list_model_versions(store, actor, project_id)
    versions = sorted(versions, key=lambda v: v.version, reverse=True)
    acceptance = {a.model_version_id: a for a in data.acceptance}
    rows = []
    for v in versions[:VERSION_ROWS]:
        score, metric = model_score(v.metrics)
        honest = v.metrics.get("honest")
        if not isinstance(honest, dict):
            honest = {}
        rows.append(
            {
                "v": v,
                "score": score,
                "metric": metric,
                # repeated CV under 300 labels: "pending" until it lands, its interval once it has
                "honest": honest.get("status"),
                "low": honest.get("low"),
                "high": honest.get("high"),
                "expected": v.metrics.get("expected_accuracy"),
                "acc": acceptance.get(v.id),
                "seconds": train_seconds(v.metrics),
            }
        )
    boards, board_version = _leaderboards(versions)
    quality = data.quality
    per_class = _quality_per_class(quality) if quality is not None else []
    jobs = list_training_jobs(store, actor, project_id, limit=10)
    stats = project_stats(store, actor, project_id)
    return render(
        request,
        "dashboard.html",
        {
            "project": project,
            "stats": stats,
            "data": data,
            "versions": rows,
            "n_versions": len(versions),
            "boards": boards,
            "board_version": board_version,
            "per_class": per_class or (_per_class(versions[0]) if versions else []),
            "quality": _quality_view(quality) if quality is not None else None,
            "recent": data.recent_acceptance,
            "curve_svg": charts.learning_curve_svg(data.learning_curve),
            "class_bars": charts.class_bars(data.class_distribution),
            "jobs": jobs,
            "jobs_active": any(j.status in ACTIVE_JOB_STATES for j in jobs),
            "can_train": _at_least(project, Role.ADMIN),
            "can_review": _at_least(project, Role.REVIEWER),
        },
    )


def _job_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = metrics.get("jobs")
    return {k: v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}


def _leaderboards(versions: list[ModelVersionOut]) -> tuple[list[dict[str, Any]], ModelVersionOut | None]:
    """Per job, the search leaderboard of the newest version that has one (search tier preferred), with
    its ranks (tied scores share a rank, "=1"), what the search ran and stored, and a note on ties."""
    ordered = [v for v in versions if v.tier == "search"] + [v for v in versions if v.tier != "search"]
    for v in ordered:
        boards: list[dict[str, Any]] = []
        top = v.metrics.get("leaderboard")
        table = charts.table_of(top)
        if table is not None:
            boards.append({"job": None, **_board(top, table, {})})
        for job, m in _job_metrics(v.metrics).items():
            table = charts.table_of(m.get("leaderboard"))
            if table is not None:
                boards.append({"job": job, "metric": m.get("metric"), **_board(m.get("leaderboard"), table, m)})
        if boards:
            return boards, v
    return [], None


def _board(rows: Any, table: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    """A leaderboard's view: its table with ranks, the trial counts line and the tie note."""
    stored = [r for r in rows if isinstance(r, dict)]
    scores = [r.get("cv_score") for r in stored]
    ranks = charts.tie_ranks(scores)
    shown = len(table["rows"])
    n_run = m.get("n_trials") if isinstance(m.get("n_trials"), int) else None
    n_stored = len(stored)
    if n_run is not None and n_run > n_stored:
        counts = f"{n_run:,} trials run, {n_stored:,} stored, top {shown} shown"
    else:
        counts = f"{n_stored:,} trials run" + (f", top {shown} shown" if shown < n_stored else "")
    ties = None
    best = charts.score_key(scores[0]) if scores else None
    if best is not None:
        n_tied = sum(1 for x in scores if charts.score_key(x) == best)
        n_tied_all = m.get("n_tied_best") if isinstance(m.get("n_tied_best"), int) else None
        if n_tied_all is not None and n_tied_all > n_tied:
            n_tied = n_tied_all  # counted over every trial that ran, not only the stored ones
        if n_tied > 1:
            of = f" of {n_run:,}" if n_run is not None and n_run > n_tied else ""
            ties = (
                f"{n_tied:,}{of} configurations tie at {best:.4g}: on these labels the search cannot tell them "
                "apart, and the best of many trials scored on the same folds is optimistic."
            )
    return {"table": table, "ranks": ranks[:shown], "counts": counts, "ties": ties}


def _per_class(version: ModelVersionOut) -> list[dict[str, Any]]:
    """Per job of a version: per-class precision / recall / F1 / support rows."""
    out = []
    for job, m in _job_metrics(version.metrics).items():
        per_class = m.get("per_class")
        if isinstance(per_class, dict) and per_class:
            out.append(
                {
                    "job": job,
                    "version": version.display_name,
                    "rows": [(c, v) for c, v in per_class.items() if isinstance(v, dict)],
                    "source": "out-of-fold",
                }
            )
    return out


def _quality_per_class(q: SuggestionQuality) -> list[dict[str, Any]]:
    """Per job of the serving version: the per-class table of the score shown (repeated CV: the same pooled
    out-of-fold predictions as the estimate; otherwise the classifier's own out-of-fold probabilities)."""
    return [
        {
            "job": j.job,
            "version": q.display_name,
            "rows": [(c, v) for c, v in j.per_class.items() if isinstance(v, dict)],
            "source": "repeated cross-validation, the same predictions as the estimate"
            if j.source == "repeated_cv"
            else "out-of-fold",
        }
        for j in q.jobs
        if j.per_class
    ]


METRIC_NAMES = {
    "accuracy": "accuracy",
    "f1": "F1",
    "f1_macro": "macro-F1",
    "f1_micro": "micro-F1",
    "f1_samples": "per-text F1",
}


def metric_label(name: str | None, positive: str | None = None) -> str:
    """A metric's name as the dashboard prints it: "F1 of NOT_DISASTER", "macro-F1", …"""
    label = METRIC_NAMES.get(name or "", name or "score")
    return f"{label} of {positive}" if positive else label


def _quality_view(q: SuggestionQuality) -> dict[str, Any]:
    """The "How good are the suggestions" figures of the serving version, per job."""
    jobs = []
    for j in q.jobs:
        jobs.append(
            {
                "q": j,
                "score_label": metric_label(j.score.name, j.score.positive) if j.score else None,
                "accuracy_label": metric_label(j.accuracy.name) if j.accuracy else None,
                # the accuracy figure is worth its own line when the project metric is another one
                "show_accuracy": j.accuracy is not None and j.score is not None and j.accuracy.name != j.score.name,
            }
        )
    return {"q": q, "jobs": jobs}


def train_seconds(metrics: dict[str, Any]) -> float | None:
    """Total training wall time of a version: the trainer's phase timings, else a single figure."""
    timings = metrics.get("timings")
    if isinstance(timings, dict):
        nums = [float(v) for v in timings.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums:
            return sum(nums)
    for key in ("training_time_s", "fit_seconds", "train_seconds"):
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@router.get("/projects/{project_id}/dashboard/jobs", response_class=HTMLResponse)
def jobs_fragment(
    request: Request, project_id: int, actor: ActorDep, store: StoreDep, was_active: int = 0
) -> Response:
    project, _ = _project(store, actor, project_id)
    jobs = list_training_jobs(store, actor, project_id, limit=10)
    active = any(j.status in ACTIVE_JOB_STATES for j in jobs)
    headers = {"HX-Refresh": "true"} if was_active and not active else None
    return render(
        request, "_jobs.html", {"project": project, "jobs": jobs, "jobs_active": active}, headers=headers
    )


@router.post("/projects/{project_id}/train")
def train_now(request: Request, project_id: int, actor: ActorDep, store: StoreDep, form: FormDep) -> Response:
    tier = _str(form, "tier", "both") or "both"
    if tier not in ("fast", "search", "both"):
        raise InvalidInput(f"Unknown training tier {tier!r}; choose fast, search or both.")
    try:
        jobs = request_training(
            store, actor, project_id, tier=tier, reason="manual"  # type: ignore[arg-type]
        )
    except InvalidInput as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, "Training queued: " + ", ".join(f"job {j.id} ({j.tier})" for j in jobs) + ".")
    return redirect(f"/projects/{project_id}/dashboard")


router.include_router(account.router)  # the account page: ui/account.py
