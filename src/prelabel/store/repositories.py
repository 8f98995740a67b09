"""Repositories: every SQL statement of the service layer that is more than a one-line ORM call, and every
dialect specific (SQLite / PostgreSQL) in one place.

* `insert_rows` — bulk INSERT through Core executemany in batches (no ORM unit-of-work per row).
* `upsert_rows` — INSERT … ON CONFLICT (cols) DO UPDATE / DO NOTHING, the one upsert for both dialects.
* keyset pagination of assets (`asset_page`) with filters built by `asset_conditions`.
* "the current prediction" of an asset: its prediction from the newest READY model version the project trusts
  that has one for it, else from the newest other READY version that has one (`model_version_id` grows with the
  version number; which versions are trusted: the project setting ``suggestions_from``, `suggestion_source`),
  available for a page of assets at once (`current_predictions`) and as a filter (`has_prediction`). The
  unique index (asset_id, model_version_id) makes each lookup an index seek.
* effective labels: per labeled asset, its newest REVIEW label, else its newest DEFAULT label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from prelabel.domain import LabelType
from prelabel.store import tables as t

IN_CHUNK = 1000  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
INSERT_BATCH = 5000
COUNTED_LABELS = (LabelType.DEFAULT.value, LabelType.REVIEW.value)


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _table(model: Any) -> Table:
    return model.__table__ if hasattr(model, "__table__") else model


# --- bulk writes ------------------------------------------------------------------------------------
def _processors(table: Table, cols: Sequence[str], dialect: Any) -> list[Callable[[Any], Any] | None]:
    return [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in cols]


def _driver_params(
    rows: Sequence[dict[str, Any]],
    cols: Sequence[str],
    procs: list[Callable[[Any], Any] | None],
    tail: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    """Bind-process each value once per distinct object (constants such as a shared timestamp are processed
    once). None always becomes SQL NULL (also for JSON columns)."""
    last_in: list[Any] = [object()] * len(cols)
    last_out: list[Any] = [None] * len(cols)
    out = []
    for row in rows:
        values: list[Any] = []
        for i, c in enumerate(cols):
            v = row[c]
            if v is None:
                values.append(None)
                continue
            proc = procs[i]
            if proc is None:
                values.append(v)
            elif v is last_in[i]:
                values.append(last_out[i])
            else:
                pv = proc(v)
                last_in[i], last_out[i] = v, pv
                values.append(pv)
        out.append((*values, *tail) if tail else tuple(values))
    return out


def _fast_write(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: tuple[Sequence[str], Sequence[str]] | None = None,
    batch: int,
) -> None:
    """INSERT through the driver, column types bind-processed here (see `_driver_params`).

    SQLite: executemany per batch. PostgreSQL: COPY straight into the table, or, for an upsert, COPY into a
    temporary staging table then one INSERT … SELECT … ON CONFLICT per batch. `conflict` is
    (conflict columns, columns to update) for an upsert (no update columns: DO NOTHING)."""
    conn = session.connection()
    dialect = conn.dialect
    row_cols = list(rows[0])
    # Columns left out get their Python-side default (evaluated once per call, like a shared timestamp).
    defaults: dict[str, Any] = {}
    for col in table.columns:
        if col.name in row_cols or col.primary_key or col.default is None:
            continue
        arg = getattr(col.default, "arg", None)
        if getattr(col.default, "is_callable", False):
            defaults[col.name] = arg(None) if arg is not None else None
        elif getattr(col.default, "is_scalar", False):
            defaults[col.name] = arg
    procs = _processors(table, row_cols, dialect)
    # Defaults are the same for every row: bind-processed once, appended to each row's values.
    tail = tuple(
        None if v is None else (proc(v) if proc else v)
        for v, proc in zip(defaults.values(), _processors(table, list(defaults), dialect), strict=True)
    )
    cols = row_cols + list(defaults)
    q = dialect.identifier_preparer.quote
    col_list = ", ".join(q(c) for c in cols)
    suffix = ""
    if conflict is not None:
        target = ", ".join(q(c) for c in conflict[0])
        if conflict[1]:
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in conflict[1])
            suffix = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            suffix = f" ON CONFLICT ({target}) DO NOTHING"
    if dialect.name == "sqlite":
        sql = f"INSERT INTO {q(table.name)} ({col_list}) VALUES ({', '.join('?' * len(cols))}){suffix}"
        for part in chunks(rows, batch):
            conn.exec_driver_sql(sql, _driver_params(part, row_cols, procs, tail))
        return
    if dialect.name != "postgresql":
        raise NotImplementedError(f"bulk writes are not implemented for the {dialect.name} dialect")
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        if conflict is None:
            for part in chunks(rows, batch):
                with cur.copy(f"COPY {q(table.name)} ({col_list}) FROM STDIN") as copy:
                    for values in _driver_params(part, row_cols, procs, tail):
                        copy.write_row(values)
            return
        stage = q(f"_pl_stage_{table.name}")
        cur.execute(f"DROP TABLE IF EXISTS {stage}")
        cur.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {col_list} FROM {q(table.name)} WITH NO DATA")
        for part in chunks(rows, batch):
            with cur.copy(f"COPY {stage} ({col_list}) FROM STDIN") as copy:
                for values in _driver_params(part, row_cols, procs, tail):
                    copy.write_row(values)
            cur.execute(f"INSERT INTO {q(table.name)} ({col_list}) SELECT {col_list} FROM {stage}{suffix}")
            cur.execute(f"TRUNCATE {stage}")


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]], *, batch: int = INSERT_BATCH) -> int:
    """Bulk INSERT of plain dicts (all with the same keys, every column given that needs a value).

    Bypasses per-row SQLAlchemy statement execution: SQLite gets one executemany per batch, PostgreSQL
    multi-row VALUES statements. Returns the number of rows."""
    if not rows:
        return 0
    _fast_write(session, _table(model), rows, batch=batch)
    return len(rows)


def upsert_rows(
    session: Session,
    model: Any,
    rows: Sequence[dict[str, Any]],
    *,
    conflict_cols: Sequence[str],
    update_cols: Sequence[str] = (),
    batch: int = INSERT_BATCH,
) -> int:
    """INSERT … ON CONFLICT (conflict_cols) DO UPDATE SET col = excluded.col (DO NOTHING when no update_cols).

    The one upsert of the code base (SQLite ≥ 3.24 and PostgreSQL share the ON CONFLICT syntax). Rows
    within one call must not repeat a conflict key (PostgreSQL refuses to update a row twice in one
    statement). Returns the number of rows sent."""
    if not rows:
        return 0
    _fast_write(session, _table(model), rows, conflict=(conflict_cols, update_cols), batch=batch)
    return len(rows)


def update_rows_by_id(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Bulk UPDATE … WHERE id = :id for dicts that carry "id" plus the columns to set (same keys in each)."""
    if not rows:
        return 0
    table = _table(model)
    from sqlalchemy import bindparam

    cols = [k for k in rows[0] if k != "id"]
    stmt = update(table).where(table.c.id == bindparam("_id")).values({c: bindparam(f"_{c}") for c in cols})
    params = [{f"_{k}": v for k, v in r.items()} for r in rows]
    for part in chunks(params, INSERT_BATCH):
        session.connection().execute(stmt, list(part))
    return len(rows)


# --- lookups --------------------------------------------------------------------------------------
def in_values(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)`. PostgreSQL gets ``column = ANY(%s)`` with one array parameter (a thousand
    placeholders cost the driver more than the lookup); SQLite gets a plain IN list."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def asset_ids_by_external_id(session: Session, project_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    """external_id → asset id for those of `external_ids` that exist in the project."""
    out: dict[str, int] = {}
    for part in chunks(list(external_ids), IN_CHUNK):
        for ext, aid in session.execute(
            select(t.Asset.external_id, t.Asset.id).where(
                t.Asset.project_id == project_id, in_values(session, t.Asset.external_id, part)
            )
        ):
            out[ext] = aid
    return out


CONTENT_CHUNK = 200  # texts per IN (...) list: texts can be long


def external_ids_by_content(session: Session, project_id: int, contents: Sequence[str]) -> dict[str, str]:
    """content → the external id of an asset of the project with exactly that text (the lowest id), for those of
    `contents` that exist. No index covers texts: each chunk scans the project's assets once."""
    out: dict[str, str] = {}
    for part in chunks(list(dict.fromkeys(contents)), CONTENT_CHUNK):
        q = (
            select(t.Asset.content, t.Asset.external_id)
            .where(t.Asset.project_id == project_id, in_values(session, t.Asset.content, part))
            .order_by(t.Asset.id.desc())
        )
        for content, ext in session.execute(q):
            out[content] = ext  # the last row, the lowest id, wins
    return out


def _text_id_pattern(session: Session) -> ColumnElement[bool]:
    """Condition: the asset's external id has the shape of an id made from its text (``h`` + 16 hex digits,
    maybe ``-n``; `service.importing.text_id`). A regular expression on PostgreSQL, GLOB patterns on SQLite."""
    col = t.Asset.external_id
    if session.get_bind().dialect.name == "postgresql":
        return col.regexp_match("^h[0-9a-f]{16}(-[0-9]+)?$")
    base = "h" + "[0-9a-f]" * 16

    def glob(pattern: str) -> ColumnElement[bool]:
        return col.op("GLOB", is_comparison=True)(pattern)

    return or_(glob(base), and_(glob(base + "-[0-9]*"), ~glob(base + "-*[^0-9]*")))


def has_text_ids(session: Session, project_id: int, *, made_from_text: bool) -> bool:
    """Whether any asset of the project has an external id made from its text (or, `made_from_text` False, any
    other external id)."""
    pattern = _text_id_pattern(session)
    cond = pattern if made_from_text else ~pattern
    found = session.scalar(select(t.Asset.id).where(t.Asset.project_id == project_id, cond).limit(1))
    return found is not None


def existing_asset_ids(session: Session, project_id: int, asset_ids: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for part in chunks(list(asset_ids), IN_CHUNK):
        out.update(
            session.scalars(
                select(t.Asset.id).where(t.Asset.project_id == project_id, in_values(session, t.Asset.id, part))
            )
        )
    return out


# --- current prediction ---------------------------------------------------------------------------
def _ready_prediction(p: Any) -> Any:
    """Condition: prediction `p` (a predictions table or alias) is from a READY model version.

    Only READY versions count: the trainer streams a version's predictions while it is TRAINING and publishes
    it (READY) once all are stored, so a half-written or abandoned version is never "current"."""
    return exists().where(t.ModelVersion.id == p.c.model_version_id, t.ModelVersion.status == "READY")


def has_prediction(asset_id_col: Any = None, model_version_id: int | None = None) -> ColumnElement[bool]:
    """EXISTS (a current prediction for the asset: one from a READY model version) — or, with
    `model_version_id`, a prediction of that version whatever its status. Usable in any asset query."""
    col = t.Asset.id if asset_id_col is None else asset_id_col
    p = t.Prediction.__table__
    if model_version_id is not None:
        return exists().where(p.c.asset_id == col, p.c.model_version_id == model_version_id)
    return exists().where(p.c.asset_id == col, _ready_prediction(p))


_PRED_COLS = [
    t.Prediction.id,
    t.Prediction.project_id,
    t.Prediction.asset_id,
    t.Prediction.model_version_id,
    t.Prediction.json_response,
    t.Prediction.confidence,
    t.Prediction.created_at,
]


def responses_judged_against(session: Session, model_version_id: int) -> list[tuple[bool | None, Any]]:
    """(agrees_with_prediction, json_response) of the DEFAULT and REVIEW labels given while a prediction of
    this model version was on screen, oldest first."""
    q = (
        select(t.Label.agrees_with_prediction, t.Label.json_response)
        .where(t.Label.model_version_id == model_version_id, t.Label.label_type.in_(COUNTED_LABELS))
        .order_by(t.Label.id)
    )
    return [(row[0], row[1]) for row in session.execute(q)]


# Which model versions give a project's suggestions (project setting "suggestions_from"): "trainer" (the
# default) trusts the trainer's own tiers (zero-shot, fast, search) over predictions pushed from outside (tier
# "external"), "external" the reverse, "newest" the newest READY version whatever made it. The other kind is the
# fallback for assets the trusted kind has not predicted.
SUGGESTIONS_SETTING = "suggestions_from"
SUGGESTION_SOURCES = ("trainer", "external", "newest")
EXTERNAL_TIER = "external"
_TRUSTED_RANK = 2**40  # added to a trusted version's id (ids stay far below): max() then picks trusted ones first


def suggestion_source(settings: dict[str, Any] | None) -> str:
    """A project's "suggestions_from" setting (its default: "trainer")."""
    value = (settings or {}).get(SUGGESTIONS_SETTING)
    return value if value in SUGGESTION_SOURCES else SUGGESTION_SOURCES[0]


def _trusted(source: str) -> ColumnElement[bool] | None:
    if source == "trainer":
        return t.ModelVersion.tier != EXTERNAL_TIER
    if source == "external":
        return t.ModelVersion.tier == EXTERNAL_TIER
    return None


def _ids_by_source(session: Session, asset_ids: Sequence[int]) -> dict[str, list[int]]:
    """The assets grouped by their project's suggestion source."""
    rows = session.execute(select(t.Asset.id, t.Asset.project_id).where(t.Asset.id.in_(asset_ids))).all()
    sources: dict[int, str] = {}
    for pid in {p for _, p in rows}:
        project = session.get(t.Project, pid)
        sources[pid] = suggestion_source(project.settings if project is not None else None)
    out: dict[str, list[int]] = {}
    for aid, pid in rows:
        out.setdefault(sources[pid], []).append(aid)
    return out


def current_predictions(
    session: Session, asset_ids: Iterable[int], *, source: str | None = None
) -> dict[int, tuple[Any, str]]:
    """asset id → (its current prediction row, the model version's display name) for a page of assets at
    once: per asset, the prediction of the newest READY model version that has one, trusted versions first
    (`source`, by default each asset's project's "suggestions_from"). Rows have the attributes id, project_id,
    asset_id, model_version_id, json_response, confidence, created_at.

    One grouped subquery (the best READY version per asset, an index range per asset on
    (asset_id, model_version_id)) joined back to the predictions: cheap on both dialects (a correlated
    subquery per row made PostgreSQL's planner estimate costs high enough to JIT-compile every page)."""
    out: dict[int, tuple[Any, str]] = {}
    for part in chunks(list(asset_ids), IN_CHUNK):
        groups = {source: list(part)} if source is not None else _ids_by_source(session, part)
        for src, ids in groups.items():
            out.update(_current_of(session, ids, src))
    return out


def _current_of(session: Session, ids: Sequence[int], source: str) -> dict[int, tuple[Any, str]]:
    p = t.Prediction
    p2 = t.Prediction.__table__.alias("p_newest")
    trusted = _trusted(source)
    # the version id, plus _TRUSTED_RANK for a trusted version: the max is the newest trusted version if any
    rank = p2.c.model_version_id if trusted is None else p2.c.model_version_id + case((trusted, _TRUSTED_RANK), else_=0)
    best = (
        select(p2.c.asset_id, func.max(rank).label("rank"))
        .join(t.ModelVersion, t.ModelVersion.id == p2.c.model_version_id)
        .where(p2.c.asset_id.in_(ids), t.ModelVersion.status == "READY")
        .group_by(p2.c.asset_id)
        .subquery("best")
    )
    q = (
        select(*_PRED_COLS, t.ModelVersion.name.label("mv_name"), t.ModelVersion.version.label("mv_version"))
        .join(best, and_(best.c.asset_id == p.asset_id, best.c.rank % _TRUSTED_RANK == p.model_version_id))
        .join(t.ModelVersion, t.ModelVersion.id == p.model_version_id)
    )
    return {row.asset_id: (row, f"{row.mv_name}-{row.mv_version}") for row in session.execute(q)}


def serving_version(session: Session, project_id: int) -> t.ModelVersion | None:
    """The model version that serves the project's suggestions: its newest READY trusted version, else its
    newest READY version."""
    project = session.get(t.Project, project_id)
    trusted = _trusted(suggestion_source(project.settings if project is not None else None))
    mv = t.ModelVersion
    q = select(mv).where(mv.project_id == project_id, mv.status == "READY").order_by(mv.id.desc()).limit(1)
    found = session.scalar(q.where(trusted)) if trusted is not None else None
    return found if found is not None else session.scalar(q)


def count_predicted_assets(session: Session, project_id: int) -> int:
    return int(session.scalar(select(func.count()).where(t.Asset.project_id == project_id, has_prediction())) or 0)


# --- labels ---------------------------------------------------------------------------------------
def has_label(asset_id_col: Any = None) -> ColumnElement[bool]:
    """EXISTS (a DEFAULT or REVIEW label on the asset)."""
    col = t.Asset.id if asset_id_col is None else asset_id_col
    return exists().where(t.Label.asset_id == col, t.Label.label_type.in_(COUNTED_LABELS))


def labels_for_assets(session: Session, asset_ids: Iterable[int]) -> dict[int, list[tuple[Any, str | None]]]:
    """asset id → [(label row, author username)], newest first (rows carry the labels table's columns)."""
    out: dict[int, list[tuple[Any, str | None]]] = {}
    lt = t.Label.__table__
    for part in chunks(list(asset_ids), IN_CHUNK):
        q = (
            select(lt, t.User.username.label("author_name"))
            .outerjoin(t.User, t.User.id == lt.c.author_id)
            .where(lt.c.asset_id.in_(part))
            .order_by(lt.c.asset_id, lt.c.id.desc())
        )
        for row in session.execute(q):
            out.setdefault(row.asset_id, []).append((row, row.author_name))
    return out


def pick_effective(labels: Iterable[tuple[int, str, Any]]) -> Any:
    """From (id, label_type, json_response) rows: the newest REVIEW response, else the newest DEFAULT one."""
    best: tuple[int, int, Any] | None = None
    for lid, kind, resp in labels:
        if kind not in COUNTED_LABELS:
            continue
        rank = (1 if kind == LabelType.REVIEW.value else 0, lid)
        if best is None or rank > best[:2]:
            best = (rank[0], rank[1], resp)
    return None if best is None else best[2]


def effective_label_status(session: Session, asset_id: int) -> str | None:
    """'REVIEW' / 'DEFAULT' / None: the type of label that counts for the asset now."""
    kinds = set(
        session.scalars(
            select(t.Label.label_type).where(t.Label.asset_id == asset_id, t.Label.label_type.in_(COUNTED_LABELS))
        )
    )
    if LabelType.REVIEW.value in kinds:
        return LabelType.REVIEW.value
    if LabelType.DEFAULT.value in kinds:
        return LabelType.DEFAULT.value
    return None


def effective_labels_chunk(
    session: Session, project_id: int, *, after_id: int = 0, chunk: int = 1000
) -> tuple[list[tuple[int, str, str, dict[str, Any]]], int | None]:
    """Up to `chunk` labeled assets with id > after_id: [(asset_id, external_id, content, effective
    json_response)] and the last asset id seen (None when there are no more)."""
    assets = session.execute(
        select(t.Asset.id, t.Asset.external_id, t.Asset.content)
        .where(t.Asset.project_id == project_id, t.Asset.id > after_id, has_label())
        .order_by(t.Asset.id)
        .limit(chunk)
    ).all()
    if not assets:
        return [], None
    by_asset: dict[int, list[tuple[int, str, Any]]] = {}
    for aid, lid, kind, resp in session.execute(
        select(t.Label.asset_id, t.Label.id, t.Label.label_type, t.Label.json_response).where(
            t.Label.asset_id.in_([a[0] for a in assets]), t.Label.label_type.in_(COUNTED_LABELS)
        )
    ):
        by_asset.setdefault(aid, []).append((lid, kind, resp))
    out = []
    for aid, ext, content in assets:
        resp = pick_effective(by_asset.get(aid, []))
        if resp is not None:
            out.append((aid, ext, content, resp))
    return out, assets[-1][0]


def iter_effective_labels(
    session: Session, project_id: int, *, chunk: int = 1000
) -> Iterator[list[tuple[int, str, str, dict[str, Any]]]]:
    """Chunks of (asset_id, external_id, content, effective json_response) within one session."""
    after: int | None = 0
    while after is not None:
        rows, after = effective_labels_chunk(session, project_id, after_id=after, chunk=chunk)
        if rows:
            yield rows


def count_labeled_assets(session: Session, project_id: int) -> int:
    return int(session.scalar(select(func.count()).where(t.Asset.project_id == project_id, has_label())) or 0)


# --- assets: filters and keyset pagination --------------------------------------------------------
def asset_conditions(
    project_id: int,
    *,
    statuses: Sequence[str] | None = None,
    labeled: bool | None = None,
    predicted: bool | None = None,
    model_version_id: int | None = None,
    is_honeypot: bool | None = None,
    text_contains: str | None = None,
    external_ids: Sequence[str] | None = None,
    review_flagged: bool | None = None,
) -> list[ColumnElement[bool]]:
    a = t.Asset
    cond: list[ColumnElement[bool]] = [a.project_id == project_id]
    if statuses:
        cond.append(a.status.in_(list(statuses)))
    if labeled is not None:
        cond.append(has_label() if labeled else ~has_label())
    if predicted is not None:
        cond.append(has_prediction() if predicted else ~has_prediction())
    if model_version_id is not None:
        cond.append(has_prediction(model_version_id=model_version_id))
    if is_honeypot is not None:
        cond.append(a.is_honeypot.is_(is_honeypot))
    if text_contains:
        cond.append(a.content.icontains(text_contains, autoescape=True))
    if external_ids is not None:
        cond.append(a.external_id.in_(list(external_ids)))
    if review_flagged is not None:
        cond.append(a.review_reason.is_not(None) if review_flagged else a.review_reason.is_(None))
    return cond


ASSET_COLUMNS = [
    c for c in t.Asset.__table__.c if c.name not in ("lease_user_id", "lease_expires_at", "honeypot_response")
]


def asset_page(
    session: Session, conditions: Sequence[ColumnElement[bool]], *, after_id: int = 0, limit: int = 100
) -> tuple[list[Any], bool]:
    """One keyset page (id > after_id, ordered by id) of asset rows (Core rows with the assets columns but
    the lease and honeypot answer) and whether more rows follow."""
    rows = list(
        session.execute(
            select(*ASSET_COLUMNS).where(and_(*conditions), t.Asset.id > after_id).order_by(t.Asset.id).limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit


def count_assets(session: Session, conditions: Sequence[ColumnElement[bool]]) -> int:
    return int(session.scalar(select(func.count()).select_from(t.Asset).where(and_(*conditions))) or 0)


# --- model versions -------------------------------------------------------------------------------
def next_model_version_number(session: Session, project_id: int) -> int | None:
    """Atomically increment the project's model version counter and return the new number (None: no project).

    A single UPDATE … RETURNING: PostgreSQL row-locks the project until commit, SQLite has one writer; numbers
    are therefore never handed out twice, and never reused even if a version row is deleted.
    """
    p = t.Project.__table__
    return session.execute(
        update(p)  # type: ignore[arg-type]
        .where(p.c.id == project_id)
        .values(last_model_version=p.c.last_model_version + 1)
        .returning(p.c.last_model_version)
    ).scalar_one_or_none()


def model_version_by_display_name(session: Session, project_id: int, name: str) -> t.ModelVersion | None:
    """The model version whose display name f"{name}-{version}" equals `name`, else the newest whose family
    name equals it."""
    mv = t.ModelVersion
    if "-" in name:
        family, _, num = name.rpartition("-")
        if num.isdigit():
            found = session.scalar(
                select(mv).where(mv.project_id == project_id, mv.name == family, mv.version == int(num))
            )
            if found is not None:
                return found
    return session.scalar(
        select(mv).where(mv.project_id == project_id, mv.name == name).order_by(mv.version.desc()).limit(1)
    )


__all__ = [
    "asset_conditions",
    "asset_ids_by_external_id",
    "asset_page",
    "count_assets",
    "count_labeled_assets",
    "count_predicted_assets",
    "current_predictions",
    "effective_label_status",
    "effective_labels_chunk",
    "existing_asset_ids",
    "has_label",
    "has_prediction",
    "insert_rows",
    "iter_effective_labels",
    "labels_for_assets",
    "model_version_by_display_name",
    "next_model_version_number",
    "pick_effective",
    "serving_version",
    "suggestion_source",
    "update_rows_by_id",
    "upsert_rows",
]


def model_version_for_update(session: Session, model_version_id: int) -> t.ModelVersion | None:
    """A model version, row-locked until the caller's transaction ends (PostgreSQL; SQLite has one writer),
    for a read-modify-write of its metrics."""
    return session.scalar(select(t.ModelVersion).where(t.ModelVersion.id == model_version_id).with_for_update())
