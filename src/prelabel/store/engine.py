"""Engine construction, the one transaction scope, and schema-version checks. All dialect details live in store/.

SQLite: WAL journal, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for write transactions so that two
writers queue instead of failing on lock upgrade. SQLite has one write lock per database and waits for it by
polling with sleeps that grow to 100 ms, so the threads of one process take a lock of the Store's before they
begin writing: they queue on it and start the moment the previous writer commits. PostgreSQL: psycopg 3
(``postgresql+psycopg://``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from threading import RLock
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from prelabel.errors import Conflict, PrelabelError, SchemaOutOfDate

# Session is re-exported: service/ names the transaction type without importing SQLAlchemy.
__all__ = ["Session", "Store", "make_engine", "normalize_url"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_HINT = "prelabel db upgrade"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (pysqlite's own transaction handling defers it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Store:
    """The database handle shared by the service layer, the API and the worker.

    Thread-safe: each `transaction()` uses its own Session and connection. `transaction()` commits on success,
    rolls back on any exception and turns driver errors into `prelabel.errors` (IntegrityError → Conflict).
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = RLock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        with self._writer_turn(read_only), self._session(read_only) as session:
            yield session

    def _writer_turn(self, read_only: bool) -> AbstractContextManager[object]:
        """This process's queue for SQLite's write lock; nothing to wait for on PostgreSQL or to read."""
        return self._write_lock if self.dialect == "sqlite" and not read_only else nullcontext()

    @contextmanager
    def _session(self, read_only: bool) -> Iterator[Session]:
        if read_only and self.dialect == "sqlite":
            bind = self.engine.execution_options(sqlite_begin="DEFERRED")
            session = Session(bind=bind, expire_on_commit=False)
        else:
            session = self._sessions()
        try:
            yield session
            if read_only:
                session.rollback()
            else:
                session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise Conflict(f"The change conflicts with existing data: {_short(exc)}") from exc
        except OperationalError as exc:
            session.rollback()
            raise PrelabelError(f"Database error: {_short(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema --------------------------------------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        from prelabel.store.migrate import upgrade

        upgrade(self.engine, revision)

    def check_schema(self) -> None:
        """Raise SchemaOutOfDate, naming the upgrade command, unless the database is at the code's head."""
        from prelabel.store.migrate import current_revision, head_revision

        current = current_revision(self.engine)
        head = head_revision()
        if current != head:
            where = "empty" if current is None else f"at revision {current}"
            raise SchemaOutOfDate(
                f"The database schema is {where} but this prelabel needs {head}. "
                f"Run: {UPGRADE_HINT} (with PRELABEL_DATABASE_URL={self.safe_url()})"
            )

    def has_tables(self) -> bool:
        return bool(inspect(self.engine).get_table_names())

    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
