"""Settings: one pydantic-settings class, read from PRELABEL_* environment variables.

Nothing is built at import time: `create_app(settings)` and the CLI build engines from a Settings instance, so
tests choose their own database.
"""

from __future__ import annotations

import ipaddress
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
    session_max_age_s: int = Field(
        7 * 24 * 3600, ge=60, description="Absolute lifetime of a browser session: log in again after it."
    )
    session_idle_s: int = Field(
        12 * 3600, ge=60, description="A browser session unused for this long ends (an idle laptop logs out)."
    )
    host: str = Field(
        "127.0.0.1",
        description="The address `prelabel serve` / `demo` listen on (their --host). In development on a loopback "
        "address the session cookie is not Secure, so plain http://127.0.0.1 works.",
    )
    secure_cookies: bool | None = Field(
        None, description="Force the session cookie's Secure flag on (true) or off (false); unset: automatic."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For header names the client "
        "(login throttling and the session list need the client's own address).",
    )
    login_free_failures: int = Field(
        10, ge=1, description="Wrong passwords per user name and per client address answered without a delay."
    )
    login_user_max_delay_s: int = Field(
        60, ge=1, description="The longest delay a user name gets after wrong passwords (keeps lock-outs short)."
    )
    login_address_max_delay_s: int = Field(
        900, ge=1, description="The longest delay a client address gets after wrong passwords."
    )
    run_worker: bool = Field(True, description="Run the background trainer inside `prelabel serve`.")
    preload_embeddings: bool = Field(
        True,
        description="Load the sentence model as the background trainer's processes start (when "
        "prelabel[embeddings] is installed), so neither an import's first queue order nor a project's first fast "
        "model waits for it.",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How much lower the CPU priority (Unix nice) of the background trainer's processes is than the "
        "server's, so that labelers' requests come first when training fills the cores; 0 keeps them equal.",
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

    def session_cookie_secure(self) -> bool:
        """Whether the session cookie carries Secure: always, except in development or test on a loopback
        address (a browser sends a Secure cookie over https only), unless `secure_cookies` forces it."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return not (self.environment in ("development", "test") and _is_loopback(self.host))


def _is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
