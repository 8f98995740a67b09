"""The relational schema (SQLAlchemy 2 declarative). Portable across SQLite and PostgreSQL.

Changing anything here requires a new Alembic revision in `prelabel/store/migrations/versions/` (linear history).
JSON columns use the generic `JSON` type (TEXT on SQLite, json on PostgreSQL). Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Ids and the foreign keys to them are 64-bit: PostgreSQL `bigint`; on SQLite `INTEGER`, which is 64-bit and must be
# spelled so for a primary key to be the rowid (and number itself).
ID = BigInteger().with_variant(Integer(), "sqlite")
# The largest id a row can have. Larger ids are refused before they reach a query (on SQLite they would overflow
# the driver, on PostgreSQL the column), so both databases answer them the same way.
MAX_ID = 2**63 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive; we re-attach UTC on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use prelabel.store.tables.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 of the token (tokens are 32 random bytes, so a fast hash is safe); the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UserSession(Base):
    """A browser session (service.auth): the cookie carries a random secret, the row only its sha256. A session
    ends when it is revoked (logout, password change, deactivation, an admin) or passes either expiry."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Refreshed at most once a minute, together with idle_expires_at (last_seen_at + the idle timeout).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute: created_at + the session lifetime
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")


class LoginAttempt(Base):
    """Wrong passwords counted per user name (scope "user") and per client address (scope "address"), so that
    every server on the database throttles logins alike and a restart forgets nothing (service.throttle)."""

    __tablename__ = "login_attempts"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_login_attempts_scope_key"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    interface: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Queue strategy, honeypot rate, trainer thresholds, ...: see service.projects.PROJECT_SETTINGS.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # Counter behind model_versions.version: incremented atomically, so a version number is never reused even
    # when a model version row is deleted (migration 0002).
    last_model_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_assets_project_external_id"),
        Index("ix_assets_project_id_id", "project_id", "id"),
        # the queue finds the asset a labeler already holds on every request for the next one
        Index("ix_assets_project_lease_user", "project_id", "lease_user_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    json_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_honeypot: Mapped[bool] = mapped_column(Boolean, default=False)
    # Gold answer of a honeypot (a label json_response), used to score labelers.
    honeypot_response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="TODO")
    # Queue lease: who is labeling this asset right now, until when.
    lease_user_id: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Label-error review: why and how strongly the model contradicts this asset's label (None: not flagged).
    review_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    review_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# the queue's order (priority first, ties by id) read straight from the index: no sort of the tied rows
Index("ix_assets_queue_order", Asset.project_id, Asset.status, Asset.priority.desc(), Asset.id)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        Index("ix_labels_asset_id_id", "asset_id", "id"),
        Index("ix_labels_project_id_id", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    label_type: Mapped[str] = mapped_column(String(20), default="DEFAULT")
    json_response: Mapped[dict[str, Any]] = mapped_column(JSON)
    seconds_to_label: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Acceptance tracking: the model version whose prediction the labeler saw, and whether the label agrees with it.
    model_version_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    )
    agrees_with_prediction: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_model_versions_project_version"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # Family name ("automl" for the trainer, any name for predictions pushed through the API).
    name: Mapped[str] = mapped_column(String(100))
    # Monotonically increasing per project, never reused; the display name is f"{name}-{version}".
    version: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(20), default="external")  # zero-shot | fast | search | external
    status: Mapped[str] = mapped_column(String(20), default="READY")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    # Fitted model bytes (joblib), so that any worker or server replica can load it.
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("asset_id", "model_version_id", name="uq_predictions_asset_model_version"),
        Index("ix_predictions_project_model_version", "project_id", "model_version_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ID, ForeignKey("model_versions.id", ondelete="CASCADE"))
    json_response: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Max probability over the project's jobs' chosen categories: used by filters and the queue.
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrainingJob(Base):
    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str] = mapped_column(String(20))  # fast | search | prepare
    status: Mapped[str] = mapped_column(String(20), default="QUEUED")
    reason: Mapped[str] = mapped_column(String(40), default="manual")  # labels | manual | ...
    requested_by: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # Lease: a worker claims a job atomically by setting these; an expired lease can be claimed again.
    worker_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LabelStudioLink(Base):
    """A Label Studio project connected to a prelabel project as its ML backend (service.label_studio).

    `ls_project` is the id Label Studio sends on every ML backend call, ``"{project id}.{creation unix time}"``;
    `label_config` is its labeling config as last seen, from which labels and predictions are converted."""

    __tablename__ = "label_studio_links"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    ls_project: Mapped[str] = mapped_column(String(64), index=True)
    ls_host: Mapped[str] = mapped_column(String(255), default="")
    label_config: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
