"""Streaming export of a project's assets with their latest labels and current prediction."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.service import assets, label_studio_json
from prelabel.service.parquet import MEDIA_TYPE as PARQUET_MEDIA_TYPE
from prelabel.service.parquet import MEDIA_TYPES as PARQUET_MEDIA_TYPES

router = APIRouter(tags=["export"])

ExportFormat = Literal["csv", "jsonl", "parquet", "label-studio"]
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": PARQUET_MEDIA_TYPE,
    "label-studio": "application/json",
}
_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "label-studio": "json"}
_ACCEPTED: dict[str, ExportFormat] = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    **{media: "parquet" for media in PARQUET_MEDIA_TYPES},
}


def _from_accept(accept: str | None) -> ExportFormat:
    """The format an Accept header asks for (its first media type that is an export format), else JSONL."""
    for part in (accept or "").split(","):
        fmt = _ACCEPTED.get(part.split(";")[0].strip().lower())
        if fmt is not None:
            return fmt
    return "jsonl"


@router.get(
    "/projects/{project_id}/export",
    summary="Stream every asset with its latest labels and current prediction (CSV, JSONL or Parquet).",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/x-ndjson": {}, PARQUET_MEDIA_TYPE: {}, "application/json": {}}},
        **error_responses(401, 404),
    },
)
def export(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    format: Annotated[
        ExportFormat | None,
        Query(
            description="csv, jsonl, parquet or label-studio (a JSON array of Label Studio tasks); default: from "
            "the Accept header (text/csv, application/x-ndjson, application/vnd.apache.parquet), else jsonl."
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    escape_formulas: Annotated[
        bool,
        Query(
            description="CSV only: prefix text cells starting with = + - @ (or a tab / CR, or ' then one of "
            "those or another ') with ' so that spreadsheets do not run them as formulas; the CSV import removes "
            "it again. false writes every cell verbatim. JSONL, Parquet and label-studio are never escaped."
        ),
    ] = True,
) -> StreamingResponse:
    format = format or _from_accept(accept)
    # The role check runs here, before the first byte; the rows are read chunk by chunk while streaming.
    if format == "label-studio":
        stream = label_studio_json.export_tasks(store, actor, project_id)
    else:
        stream = assets.export_assets(store, actor, project_id, format, escape_formulas=escape_formulas)
    filename = f"project-{project_id}.{_SUFFIX[format]}"
    return StreamingResponse(
        stream,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
