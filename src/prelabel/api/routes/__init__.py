"""The REST API under ``/api/v1`` (OpenAPI at ``/docs``). Routes are thin: parse, authenticate, call one
service function, return its DTO. Every error is ``{"error": {"code", "message", "details"}}``
(see ``api/errors.py``).

Authentication: ``Authorization: Bearer <token>`` or ``X-API-Key: <token>`` on everything except ``/health``
(also at ``/api/v1/health``).
A project the caller is not a member of is reported as 404 (nobody learns another's project exists).

    GET    /health                                       db reachability + schema version (no auth)
    GET    /api/v1/health                                the same
    GET    /api/v1/me                                    the calling user
    POST   /api/v1/me/password          {current_password, new_password}  ends my browser sessions
    GET    /api/v1/tokens                                my API tokens (never the secret)
    POST   /api/v1/tokens               {name}           → 201 {"token": TokenOut, "secret": "pl_…"}
    DELETE /api/v1/tokens/{token_id}                     revoke → 204

    GET    /api/v1/users                                 superusers: every user
    PATCH  /api/v1/users/{uid}          {is_active}      superusers: (de)activate; deactivating ends sessions
    GET    /api/v1/users/{uid}/sessions                  superusers: the user's browser sessions
    DELETE /api/v1/users/{uid}/sessions[/{session_id}]   superusers: end all of them, or one

    GET    /api/v1/projects                              projects I am a member of
    POST   /api/v1/projects             {title, description?, interface, settings?}     → 201 ProjectOut
    GET    /api/v1/projects/{pid}                        ProjectOut + "json_interface" (the original shape)
    PATCH  /api/v1/projects/{pid}       {title?, description?, interface?, settings?}   admin only
    GET    /api/v1/projects/{pid}/stats                  ProjectStats
    GET    /api/v1/projects/{pid}/members                list of MemberOut
    POST   /api/v1/projects/{pid}/members {username, role}                             admin only → 201
    DELETE /api/v1/projects/{pid}/members/{username}     admin only → 204

    POST   /api/v1/projects/{pid}/assets                 bulk import, ONE transaction → ImportResult
             body: application/json  [{"external_id", "content", "json_metadata"?, "is_honeypot"?, ...}, …]
                   text/csv | application/x-ndjson | application/vnd.apache.parquet (raw body)
                   | multipart/form-data (field "file")
             query: on_conflict=error|skip|update, format=csv|jsonl|json|parquet (else from the content type),
                    text_column, id_column (default: detected, reported as id_column/id_source),
                    ids_from_text, allow_duplicate_texts, metadata_columns (comma-separated), honeypot_column,
                    label_column
             wrong content type → 415, body over PRELABEL_MAX_UPLOAD_BYTES → 413, a text already in the project
             under an id of the other kind (made from the text vs from a column) → 409
    GET    /api/v1/projects/{pid}/assets                 {"items": [AssetOut], "next_cursor"} keyset pages
             query: status (repeatable), labeled, predicted, model_version_id, is_honeypot, text_contains,
                    external_id (repeatable), review_flagged, include_labels=true, after=<cursor>, limit≤1000
    GET    /api/v1/projects/{pid}/assets/{asset_id}      AssetOut with labels + current prediction
    GET    /api/v1/projects/{pid}/assets/by-external-id/{external_id}

    POST   /api/v1/projects/{pid}/assets/{asset_id}/labels {json_response, label_type?, seconds_to_label?,
                                                          model_version_id?}                → 201 LabelOut
    GET    /api/v1/projects/{pid}/labels                 query: asset_id, after (label id), limit
    DELETE /api/v1/projects/{pid}/labels/{label_id}      undo my own newest label → the removed LabelOut

    POST   /api/v1/projects/{pid}/predictions            {"model_name"? | "model_version_id"?, "new_version"?,
                                                          "items": [{"external_id"|"asset_id", "json_response"}]}
                                                         thousands per call, one transaction → {"created": n,
                                                         "model_version_id", "model_name", "note"}
    GET    /api/v1/projects/{pid}/predictions            query: asset_id, model_version_id, include_unready,
                                                         after, limit (READY versions only unless asked)
    GET    /api/v1/projects/{pid}/model-versions         list of ModelVersionOut (newest first)
    GET    /api/v1/projects/{pid}/model-versions/{mv_id}

    GET    /api/v1/projects/{pid}/export?format=csv|jsonl|parquet|label-studio  (else from Accept)
                                                         streamed: assets, latest labels, prediction
    GET    /api/v1/projects/{pid}/label-studio           labeling config + Label Studio connection
    DELETE /api/v1/projects/{pid}/label-studio           forget the connection (admin)

    GET|POST /label-studio/{token}/health|setup|predict|webhook   Label Studio's ML backend protocol
             (also /label-studio/{token}/projects/{pid}/…; docs/how-to/label-studio.md)

Adding routes: a module in this package exposing ``router: APIRouter`` (paths relative to ``/api/v1``), named
in ``ROUTER_MODULES`` below; ``create_app`` includes them in order. The trainer's ``training`` module
(train now, job status, next-asset queue, review list) plugs in the same way.
"""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

API_PREFIX = "/api/v1"

# Modules of this package that expose `router`; included under API_PREFIX in this order.
ROUTER_MODULES: list[str] = [
    "me",
    "users",  # superusers: users, activation, browser sessions
    "projects",
    "assets",
    "labels",
    "predictions",
    "models",
    "export",
    "training",  # the trainer's loop: train now, jobs, queue, review (owned by the trainer engineer)
    "label_studio",  # a project's Label Studio config and connection (its ML backend: label_studio.install)
]


def api_routers() -> list[APIRouter]:
    """Every API router, imported by name from ROUTER_MODULES."""
    return [import_module(f"{__name__}.{name}").router for name in ROUTER_MODULES]
