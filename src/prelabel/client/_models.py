"""Typed records the SDK returns: frozen dataclasses parsed from the API's JSON (unknown keys are ignored,
so a newer server does not break an older client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _req_dt(value: Any) -> datetime:
    out = _dt(value)
    if out is None:
        raise ValueError("missing timestamp in API response")
    return out


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_superuser: bool
    is_active: bool
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> User:
        return cls(
            id=d["id"],
            username=d["username"],
            is_superuser=bool(d.get("is_superuser", False)),
            is_active=bool(d.get("is_active", True)),
            created_at=_req_dt(d["created_at"]),
        )


@dataclass(frozen=True)
class Token:
    """An API token's record; the secret itself is returned once by `Client.create_token`."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Token:
        return cls(
            id=d["id"],
            user_id=d["user_id"],
            name=d["name"],
            prefix=d.get("prefix", ""),
            created_at=_req_dt(d["created_at"]),
            last_used_at=_dt(d.get("last_used_at")),
            revoked_at=_dt(d.get("revoked_at")),
        )


@dataclass(frozen=True)
class UserSession:
    """A browser session of a user (`Client.list_sessions`, superusers); its secret never leaves the cookie."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    expires_at: datetime
    active: bool
    revoked_at: datetime | None = None
    user_agent: str = ""
    client_address: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UserSession:
        return cls(
            id=d["id"],
            user_id=d["user_id"],
            created_at=_req_dt(d["created_at"]),
            last_seen_at=_req_dt(d["last_seen_at"]),
            idle_expires_at=_req_dt(d["idle_expires_at"]),
            expires_at=_req_dt(d["expires_at"]),
            active=bool(d.get("active", False)),
            revoked_at=_dt(d.get("revoked_at")),
            user_agent=d.get("user_agent", ""),
            client_address=d.get("client_address", ""),
        )


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    description: str
    interface: dict[str, Any]
    settings: dict[str, Any]
    role: str
    created_at: datetime
    updated_at: datetime | None = None
    json_interface: dict[str, Any] = field(default_factory=dict)
    """The interface in the original workflow's shape (jobs → JOB → content → categories)."""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Project:
        return cls(
            id=d["id"],
            title=d["title"],
            description=d.get("description", ""),
            interface=d.get("interface", {}),
            settings=d.get("settings", {}),
            role=str(d.get("role", "")),
            created_at=_req_dt(d["created_at"]),
            updated_at=_dt(d.get("updated_at")),
            json_interface=d.get("json_interface") or {},
        )


@dataclass(frozen=True)
class Member:
    user_id: int
    username: str
    role: str
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Member:
        return cls(
            user_id=d["user_id"], username=d["username"], role=d["role"], created_at=_req_dt(d["created_at"])
        )


@dataclass(frozen=True)
class ProjectStats:
    project_id: int
    n_assets: int
    n_honeypots: int
    by_status: dict[str, int]
    n_labeled: int
    n_labels: int
    n_predicted: int
    n_to_review: int
    n_model_versions: int
    class_counts: dict[str, dict[str, int]]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProjectStats:
        return cls(
            project_id=d["project_id"],
            n_assets=d.get("n_assets", 0),
            n_honeypots=d.get("n_honeypots", 0),
            by_status=d.get("by_status", {}),
            n_labeled=d.get("n_labeled", 0),
            n_labels=d.get("n_labels", 0),
            n_predicted=d.get("n_predicted", 0),
            n_to_review=d.get("n_to_review", 0),
            n_model_versions=d.get("n_model_versions", 0),
            class_counts=d.get("class_counts", {}),
        )


@dataclass(frozen=True)
class Label:
    id: int
    project_id: int
    asset_id: int
    label_type: str
    json_response: dict[str, Any]
    created_at: datetime
    author_id: int | None = None
    author: str | None = None
    seconds_to_label: float | None = None
    model_version_id: int | None = None
    agrees_with_prediction: bool | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Label:
        return cls(
            id=d["id"],
            project_id=d["project_id"],
            asset_id=d["asset_id"],
            label_type=d["label_type"],
            json_response=d["json_response"],
            created_at=_req_dt(d["created_at"]),
            author_id=d.get("author_id"),
            author=d.get("author"),
            seconds_to_label=d.get("seconds_to_label"),
            model_version_id=d.get("model_version_id"),
            agrees_with_prediction=d.get("agrees_with_prediction"),
        )


@dataclass(frozen=True)
class Prediction:
    id: int
    project_id: int
    asset_id: int
    model_version_id: int
    model_name: str
    json_response: dict[str, Any]
    confidence: float
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Prediction:
        return cls(
            id=d["id"],
            project_id=d["project_id"],
            asset_id=d["asset_id"],
            model_version_id=d["model_version_id"],
            model_name=d.get("model_name", ""),
            json_response=d["json_response"],
            confidence=float(d.get("confidence", 0.0)),
            created_at=_req_dt(d["created_at"]),
        )


@dataclass(frozen=True)
class Asset:
    id: int
    project_id: int
    external_id: str
    content: str
    status: str
    created_at: datetime
    updated_at: datetime
    json_metadata: dict[str, Any] = field(default_factory=dict)
    is_honeypot: bool = False
    priority: float = 0.0
    review_reason: str | None = None
    review_score: float | None = None
    labels: list[Label] = field(default_factory=list)
    """Latest first."""
    current_prediction: Prediction | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Asset:
        pred = d.get("current_prediction")
        return cls(
            id=d["id"],
            project_id=d["project_id"],
            external_id=d["external_id"],
            content=d["content"],
            status=d["status"],
            created_at=_req_dt(d["created_at"]),
            updated_at=_req_dt(d["updated_at"]),
            json_metadata=d.get("json_metadata") or {},
            is_honeypot=bool(d.get("is_honeypot", False)),
            priority=float(d.get("priority", 0.0)),
            review_reason=d.get("review_reason"),
            review_score=d.get("review_score"),
            labels=[Label.from_json(x) for x in d.get("labels") or []],
            current_prediction=Prediction.from_json(pred) if pred else None,
        )


@dataclass(frozen=True)
class AssetPage:
    items: list[Asset]
    next_cursor: str | None
    """Pass as `after=` for the next page; None at the end."""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AssetPage:
        return cls(items=[Asset.from_json(x) for x in d.get("items", [])], next_cursor=d.get("next_cursor"))


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    labels_created: int = 0
    id_column: str | None = None
    """The file's column the external ids came from (None: given in the records, or made from each text)."""
    id_source: str = "records"
    """"records" (given), "column" (the id_column asked for), "detected" (found by name) or "text"."""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImportResult:
        return cls(
            created=d.get("created", 0),
            updated=d.get("updated", 0),
            skipped=d.get("skipped", 0),
            labels_created=d.get("labels_created", 0),
            id_column=d.get("id_column"),
            id_source=d.get("id_source", "records"),
        )


@dataclass(frozen=True)
class ModelVersion:
    id: int
    project_id: int
    name: str
    version: int
    display_name: str
    tier: str
    status: str
    created_at: datetime
    metrics: dict[str, Any] = field(default_factory=dict)
    n_labels: int = 0
    finished_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelVersion:
        return cls(
            id=d["id"],
            project_id=d["project_id"],
            name=d["name"],
            version=d["version"],
            display_name=d.get("display_name") or f"{d['name']}-{d['version']}",
            tier=d.get("tier", ""),
            status=d.get("status", ""),
            created_at=_req_dt(d["created_at"]),
            metrics=d.get("metrics") or {},
            n_labels=d.get("n_labels", 0),
            finished_at=_dt(d.get("finished_at")),
        )


@dataclass(frozen=True)
class TrainingJob:
    id: int
    project_id: int
    tier: str
    status: str
    created_at: datetime
    reason: str = "manual"
    progress: float = 0.0
    message: str = ""
    n_labels: int = 0
    model_version_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainingJob:
        return cls(
            id=d["id"],
            project_id=d["project_id"],
            tier=d["tier"],
            status=d["status"],
            created_at=_req_dt(d["created_at"]),
            reason=d.get("reason", ""),
            progress=float(d.get("progress", 0)),
            message=d.get("message", ""),
            n_labels=d.get("n_labels", 0),
            model_version_id=d.get("model_version_id"),
            started_at=_dt(d.get("started_at")),
            finished_at=_dt(d.get("finished_at")),
        )
