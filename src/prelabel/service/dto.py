"""Data transfer objects returned by the service layer (pydantic models, safe to return from the API as-is).

No DTO ever carries a password hash, a token hash or model artifact bytes. Inputs that callers build
(`AssetIn`, `PredictionIn`, `AssetFilter`) live here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prelabel.domain import AssetStatus, LabelType, Role
from prelabel.store.tables import MAX_ID

OnConflict = Literal["skip", "update", "error"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- users and tokens -----------------------------------------------------------------------------
class UserOut(_Out):
    id: int
    username: str
    is_superuser: bool = False
    is_active: bool = True
    created_at: datetime


class TokenOut(_Out):
    """An API token's public record; the plaintext token is returned only once by `create_token`."""

    id: int
    user_id: int
    name: str
    prefix: str = Field(description="The first characters of the token, to recognise it in lists.")
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class SessionOut(_Out):
    """A browser session's record; its secret is only ever in the user's cookie."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime = Field(description="The last request, recorded at most once a minute.")
    idle_expires_at: datetime = Field(description="When it ends unless used again.")
    expires_at: datetime = Field(description="When it ends at the latest.")
    revoked_at: datetime | None = Field(None, description="When it was ended (logout, password, administrator).")
    user_agent: str = ""
    client_address: str = ""
    active: bool = Field(False, description="Not ended and neither expiry passed.")


# --- projects -------------------------------------------------------------------------------------
class ProjectOut(_Out):
    id: int
    title: str
    description: str = ""
    interface: dict[str, Any] = Field(description="The interface in our shape: {'jobs': [...]}.")
    settings: dict[str, Any] = Field(description="Every project setting, defaults filled in.")
    created_at: datetime
    updated_at: datetime | None = None
    role: Role = Field(description="The acting user's role in this project.")


class MemberOut(_Out):
    user_id: int
    username: str
    role: Role
    created_at: datetime


class ProjectStats(BaseModel):
    project_id: int
    n_assets: int = 0
    n_honeypots: int = 0
    by_status: dict[str, int] = Field(default_factory=dict, description="Asset count per status.")
    n_labeled: int = Field(0, description="Assets with at least one DEFAULT or REVIEW label.")
    n_labels: int = Field(0, description="DEFAULT and REVIEW label rows.")
    n_predicted: int = Field(0, description="Assets with a current prediction.")
    n_to_review: int = Field(0, description="Assets flagged for review or in TO_REVIEW.")
    n_model_versions: int = 0
    class_counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Per job, per category: assets whose effective label has it."
    )


# --- assets ---------------------------------------------------------------------------------------
class AssetIn(BaseModel):
    """One asset to import (from `importing.parse_records` or built by the caller)."""

    model_config = ConfigDict(extra="forbid")

    external_id: str
    content: str
    json_metadata: dict[str, Any] = Field(default_factory=dict)
    is_honeypot: bool = False
    honeypot_response: dict[str, Any] | None = None
    label: dict[str, Any] | None = Field(None, description="Optional initial DEFAULT label.")


class AssetFilter(BaseModel):
    """Filters of `list_assets` / `iter_assets`; every field None means "any"."""

    model_config = ConfigDict(extra="forbid")

    status: list[AssetStatus] | AssetStatus | None = None
    labeled: bool | None = Field(None, description="Has at least one DEFAULT or REVIEW label.")
    predicted: bool | None = Field(None, description="Has a current prediction (any model version).")
    model_version_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Has a prediction from this model version."
    )
    is_honeypot: bool | None = None
    text_contains: str | None = Field(None, description="Case-insensitive substring of the content.")
    external_ids: list[str] | None = None
    review_flagged: bool | None = Field(None, description="Flagged by label-error review.")

    def statuses(self) -> list[str] | None:
        if self.status is None:
            return None
        if isinstance(self.status, list):
            return [str(s) for s in self.status]
        return [str(self.status)]


class LabelOut(_Out):
    id: int
    project_id: int
    asset_id: int
    author_id: int | None = None
    author: str | None = Field(None, description="The author's username.")
    label_type: LabelType
    json_response: dict[str, Any]
    seconds_to_label: float | None = None
    model_version_id: int | None = None
    agrees_with_prediction: bool | None = None
    created_at: datetime


class PredictionOut(_Out):
    id: int
    project_id: int
    asset_id: int
    model_version_id: int
    model_name: str = Field(description="Display name of the model version, e.g. 'automl-3'.")
    json_response: dict[str, Any]
    confidence: float = Field(description="Max probability (0-1) over the jobs' predicted categories.")
    created_at: datetime


class AssetOut(_Out):
    id: int
    project_id: int
    external_id: str
    content: str
    json_metadata: dict[str, Any] = Field(default_factory=dict)
    is_honeypot: bool = False
    priority: float = 0.0
    status: AssetStatus
    review_reason: str | None = None
    review_score: float | None = None
    created_at: datetime
    updated_at: datetime
    labels: list[LabelOut] = Field(default_factory=list, description="Latest first (when requested).")
    current_prediction: PredictionOut | None = None


class AssetPage(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None = Field(None, description="`after` for the next page; None at the end.")


class ImportResult(BaseModel):
    created: int = 0
    updated: int = 0
    skipped: int = 0
    labels_created: int = 0
    id_column: str | None = Field(None, description="The file's column the external ids came from.")
    id_source: Literal["records", "column", "detected", "text"] = Field(
        "records",
        description="Where the external ids came from: given in the records (a JSON body of assets), the "
        "id_column asked for, a column detected by name (external_id, else id, else the one *_id column), or "
        "made from each text (no id column).",
    )


# --- predictions and model versions ---------------------------------------------------------------
class PredictionIn(BaseModel):
    """One prediction to push; identify the asset by `external_id` or `asset_id`."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = None
    asset_id: int | None = Field(None, ge=1, le=MAX_ID)
    json_response: dict[str, Any]


class ModelVersionOut(_Out):
    id: int
    project_id: int
    name: str
    version: int
    display_name: str = Field(description="f'{name}-{version}', e.g. 'automl-3'.")
    tier: str
    status: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    n_labels: int = 0
    created_at: datetime
    finished_at: datetime | None = None


class TrainingJobOut(_Out):
    """A training job (filled by service/training.py, owned by the trainer engineer)."""

    id: int
    project_id: int
    tier: str
    status: str
    reason: str = "manual"
    progress: float = 0.0
    message: str = ""
    n_labels: int = 0
    model_version_id: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
