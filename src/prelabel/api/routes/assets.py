"""Assets: bulk import (JSON array, CSV, JSONL, Parquet, multipart upload), keyset-paginated listing, single
asset.

An import checks the caller's role before it reads the body: an upload of up to PRELABEL_MAX_UPLOAD_BYTES from
someone who may not import is refused without being read or parsed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from prelabel.api.deps import ActorDep, SettingsDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.domain import AssetStatus, Role, parse_interface
from prelabel.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from prelabel.service import assets, label_studio_json, projects
from prelabel.service._access import check_role
from prelabel.service.dto import AssetFilter, AssetIn, AssetOut, AssetPage, ImportResult
from prelabel.service.importing import SUFFIX_FORMATS, parse_file
from prelabel.service.parquet import MEDIA_TYPES as PARQUET_MEDIA_TYPES

router = APIRouter(tags=["assets"], responses=error_responses(401, 404))

ImportFormat = Literal["csv", "jsonl", "json", "parquet", "label-studio"]
_MEDIA_FORMATS: dict[str, ImportFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/json": "json",
    **{media: "parquet" for media in PARQUET_MEDIA_TYPES},
}
ACCEPTED = (
    "application/json, text/csv, application/x-ndjson, application/vnd.apache.parquet or multipart/form-data "
    "(a 'file' field)"
)
_ASSET_LIST = TypeAdapter(list[AssetIn])
_FILE = {"type": "string", "format": "binary"}
# The import reads its body itself (several formats), so its OpenAPI request body is declared here.
IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {**TypeAdapter(AssetIn).json_schema(), "description": "One asset in the API's shape."},
            }
        },
        "text/csv": {"schema": {"type": "string", "description": "A CSV file with a header row."}},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON object per line."}},
        "application/vnd.apache.parquet": {"schema": _FILE},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": _FILE}, "required": ["file"]},
        },
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes before and while reading it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(size, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (
        f"The upload is larger than the server's limit of {limit:,} bytes (got at least {size:,}). Split the "
        "file into several imports, or raise PRELABEL_MAX_UPLOAD_BYTES."
    )


async def _multipart_file(request: Request, body: bytes, limit: int) -> tuple[bytes, str | None, str | None]:
    """(content, filename, content type) of the form's 'file' field."""

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=50, max_part_size=limit)
    except MultiPartException as exc:
        raise InvalidInput(f"Malformed multipart upload: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("The multipart upload needs a file field named 'file'.")
    data = await upload.read()
    media = (upload.content_type or "").split(";")[0].strip().lower() or None
    return data, upload.filename, media


def _json_assets(data: bytes) -> list[AssetIn]:
    """A JSON body in the API's own shape: an array of AssetIn objects."""
    try:
        return _ASSET_LIST.validate_json(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            raise InvalidInput(f"The body is not valid JSON: {err.get('msg')}.") from None
        if loc and isinstance(loc[0], int):
            where = f"item {loc[0] + 1}"
            field = ".".join(str(p) for p in loc[1:])
            msg = f"{where}, field {field!r}: {err['msg']}" if field else f"{where}: {err['msg']}"
        else:
            msg = f"{err['msg']} (the body must be a JSON array of asset objects)"
        raise InvalidInput(
            f'Invalid import: {msg}. Each asset is {{"external_id": ..., "content": ...}} with optional '
            "json_metadata, is_honeypot, honeypot_response, label.",
            details={"errors": len(exc.errors())},
        ) from None


async def _body_and_format(
    request: Request, format: ImportFormat | None, limit: int
) -> tuple[bytes, ImportFormat, bool]:
    """(the file's bytes, its format, whether it is a raw JSON body in the API's own shape)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        body = await _read_body(request, limit)
        data, filename, part_media = await _multipart_file(request, body, limit)
        suffix = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
        fmt = format or SUFFIX_FORMATS.get(suffix) or _MEDIA_FORMATS.get(part_media or "")
        if fmt is None:
            raise UnsupportedMediaType(
                f"Cannot tell the format of the uploaded file {filename!r}; name it .csv/.jsonl/.json/.parquet "
                "or pass ?format=csv|jsonl|json|parquet."
            )
        return data, fmt, False
    detected = _MEDIA_FORMATS.get(media)
    if detected is None and not (format and media in ("application/octet-stream", "text/plain")):
        raise UnsupportedMediaType(
            f"Unsupported content type {media or '(none)'!r} for an import; send {ACCEPTED}.",
            details={"content_type": media},
        )
    data = await _read_body(request, limit)
    fmt = format or detected
    assert fmt is not None
    return data, fmt, media == "application/json" and format in (None, "json")


@router.post(
    "/projects/{project_id}/assets",
    summary="Import assets in one transaction (JSON array, CSV, JSONL, Parquet or a multipart file upload).",
    response_description="How many assets were created, updated and skipped, and where their ids came from.",
    responses=error_responses(403, 409, 413, 415),
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_assets(
    project_id: int,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    on_conflict: Annotated[
        Literal["error", "skip", "update"],
        Query(
            description="External ids already in the project: refuse the import, skip them, or update them."
        ),
    ] = "error",
    format: Annotated[
        ImportFormat | None,
        Query(description="csv | jsonl | json | parquet | label-studio (Label Studio JSON tasks); default: from "
              "the content type / file name."),
    ] = None,
    text_column: Annotated[str | None, Query(description="Column with the text (default 'text').")] = None,
    id_column: Annotated[
        str | None,
        Query(description="Column with the external id (default: external_id, else id, else the one *_id column, "
              "else ids made from each text)."),
    ] = None,
    ids_from_text: Annotated[
        bool, Query(description="Make the ids from each text even if the file has an id column.")
    ] = False,
    allow_duplicate_texts: Annotated[
        bool,
        Query(description="Import texts already in the project under an id of the other kind (made from the "
              "text vs from a column) as second assets instead of refusing the import."),
    ] = False,
    metadata_columns: Annotated[
        str | None, Query(description="Comma-separated columns kept as metadata (default: all others).")
    ] = None,
    honeypot_column: Annotated[str | None, Query(description="Column marking honeypots (1/true).")] = None,
    label_column: Annotated[str | None, Query(description="Column with an initial label.")] = None,
) -> ImportResult:
    """A JSON array body holds asset objects in the API's shape (``external_id``, ``content`` and optional
    ``json_metadata``, ``is_honeypot``, ``honeypot_response``, ``label``). CSV, JSONL and Parquet bodies,
    multipart files, and JSON bodies sent with any column option are parsed as files: the text in
    ``text_column`` (default ``text``), the id in ``id_column`` (default: detected, see its description; the
    response's ``id_column`` and ``id_source`` say which was used), the other columns as metadata unless
    ``metadata_columns`` picks them. The whole import is one transaction: any bad record refuses it all,
    naming the row."""
    await run_in_threadpool(check_role, store, actor, project_id, Role.ADMIN, "import assets")
    data, fmt, raw_json_body = await _body_and_format(request, format, settings.max_upload_bytes)
    if fmt == "label-studio":  # Label Studio tasks (data, annotations, predictions): service.label_studio_json
        return await run_in_threadpool(
            lambda: label_studio_json.import_tasks(store, actor, project_id, data, on_conflict=on_conflict)
        )
    column_options = (text_column, id_column, metadata_columns, honeypot_column, label_column)
    if raw_json_body and not ids_from_text and all(opt is None for opt in column_options):
        records = await run_in_threadpool(_json_assets, data)
        return await run_in_threadpool(
            lambda: assets.import_assets(
                store, actor, project_id, records, on_conflict=on_conflict, allow_duplicate_texts=allow_duplicate_texts
            )
        )
    interface = None
    if label_column:
        project = await run_in_threadpool(projects.get_project, store, actor, project_id)
        interface = parse_interface(project.interface)
    meta = [c.strip() for c in metadata_columns.split(",") if c.strip()] if metadata_columns else None
    parsed = await run_in_threadpool(
        lambda: parse_file(
            data,
            fmt=fmt,
            text_column=text_column or "text",
            id_column=id_column or None,
            ids_from_text=ids_from_text,
            metadata_columns=meta,
            honeypot_column=honeypot_column,
            label_column=label_column,
            interface=interface,
        )
    )
    return await run_in_threadpool(
        lambda: assets.import_parsed(
            store, actor, project_id, parsed, on_conflict=on_conflict, allow_duplicate_texts=allow_duplicate_texts
        )
    )


@router.get("/projects/{project_id}/assets", summary="A page of assets (keyset pagination by id).")
def list_assets(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    status: Annotated[list[AssetStatus] | None, Query(description="Repeatable.")] = None,
    labeled: bool | None = None,
    predicted: bool | None = None,
    model_version_id: int | None = None,
    is_honeypot: bool | None = None,
    text_contains: Annotated[str | None, Query(description="Case-insensitive substring.")] = None,
    external_id: Annotated[list[str] | None, Query(description="Repeatable.")] = None,
    review_flagged: bool | None = None,
    include_labels: bool = True,
    after: Annotated[str | None, Query(description="The next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=assets.MAX_PAGE)] = 100,
) -> AssetPage:
    filt = AssetFilter(
        status=status,
        labeled=labeled,
        predicted=predicted,
        model_version_id=model_version_id,
        is_honeypot=is_honeypot,
        text_contains=text_contains,
        external_ids=external_id,
        review_flagged=review_flagged,
    )
    return assets.list_assets(
        store, actor, project_id, filt, after=after, limit=limit, include_labels=include_labels
    )


@router.get(
    "/projects/{project_id}/assets/by-external-id/{external_id:path}", summary="An asset by external id."
)
def get_asset_by_external_id(project_id: int, external_id: str, store: StoreDep, actor: ActorDep) -> AssetOut:
    return assets.get_asset_by_external_id(store, actor, project_id, external_id)


@router.get("/projects/{project_id}/assets/{asset_id}", summary="One asset with its labels and prediction.")
def get_asset(project_id: int, asset_id: int, store: StoreDep, actor: ActorDep) -> AssetOut:
    return assets.get_asset(store, actor, project_id, asset_id)
