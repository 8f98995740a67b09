"""Settings: one pydantic-settings class, read from PRELABEL_* environment variables.

Nothing is built at import time: `create_app(settings)` and the CLI build engines from a Settings instance, so
tests choose their own database.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "prelabel"


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{data_dir / 'prelabel.db'}"


class Settings(BaseSettings):
    """Every setting has a default and a help text; docs/reference/configuration.md lists them (tests/test_docs.py
    fails when one is missing there)."""

    model_config = SettingsConfigDict(env_prefix="PRELABEL_", extra="ignore")

    environment: Literal["development", "production", "test"] = Field(
        "development", description="'production' refuses to start without an explicit secret key."
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL. Default: a SQLite file in the data dir. PostgreSQL: postgresql+psycopg://…"
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Where the default SQLite file lives (models are stored in the database; the embedding cache "
        "is PRELABEL_CACHE_DIR, default ~/.cache/prelabel).",
    )
    secret_key: str = Field(
        "", description="Signs session cookies and CSRF tokens. Required in production; random per process otherwise."
    )
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="Largest accepted import upload.")
    session_max_age_s: int = Field(7 * 24 * 3600, description="Lifetime of a browser session cookie.")
    run_worker: bool = Field(True, description="Run the background trainer inside `prelabel serve`.")
    preload_embeddings: bool = Field(
        True,
        description="Load the sentence model as the background trainer's processes start (when "
        "prelabel[embeddings] is installed), so neither an import's first queue order nor a project's first fast "
        "model waits for it.",
    )
    log_level: str = Field("INFO", description="Python logging level of the server and worker.")
    label_studio_predict_wait_s: float = Field(
        5.0,
        ge=0,
        description="How long a Label Studio /predict call waits for the trainer to predict tasks it has just "
        "imported (Label Studio itself waits up to 100 s).",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = default_database_url(self.data_dir)
        if not self.secret_key:
            if self.environment == "production":
                raise ValueError(
                    "PRELABEL_SECRET_KEY must be set in production (for example: "
                    "export PRELABEL_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'))"
                )
            self.secret_key = secrets.token_urlsafe(32)
        return self
