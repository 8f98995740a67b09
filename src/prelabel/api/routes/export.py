"""Streaming export of a project's assets with their latest labels and current prediction."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.service import assets

router = APIRouter(tags=["export"])

_MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get(
    "/projects/{project_id}/export",
    summary="Stream every asset with its latest labels and current prediction (CSV or JSONL).",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl.")] = "jsonl",
    escape_formulas: Annotated[
        bool,
        Query(
            description="CSV for spreadsheets: prefix text cells starting with = + - @ (or a tab / CR) with ' "
            "so that they are not run as formulas. Changes the data; off by default."
        ),
    ] = False,
) -> StreamingResponse:
    # The role check runs here, before the first byte; the rows are read chunk by chunk while streaming.
    stream = assets.export_assets(store, actor, project_id, format, escape_formulas=escape_formulas)
    filename = f"project-{project_id}.{format}"
    return StreamingResponse(
        stream,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
