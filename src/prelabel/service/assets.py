"""Assets: bulk import (idempotent by external id), filtered keyset listing, iteration, streaming export.

An import is one transaction: either every record lands or none does. Records are validated first (empty text,
duplicate external ids, labels against the interface); only then is anything written, in bulk.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from prelabel.domain import AssetStatus, Interface, LabelType, Role, check_storable, validate_label_response
from prelabel.errors import Conflict, InvalidInput, NotFound
from prelabel.service._access import asset_or_404, interface_of, require
from prelabel.service.auth import Actor
from prelabel.service.dto import (
    AssetFilter,
    AssetIn,
    AssetOut,
    AssetPage,
    ImportResult,
    LabelOut,
    OnConflict,
    PredictionOut,
)
from prelabel.service.importing import ParsedImport, is_text_id, needs_formula_escape, text_id
from prelabel.service.spelling import API, Spelling
from prelabel.service.training import queue_prepare, training_setting
from prelabel.store import assets as assets_repo
from prelabel.store import labels as labels_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

MAX_PAGE = 1000
MAX_EXTERNAL_ID = 255


# --- conversion -------------------------------------------------------------------------------------------
def label_out(label: Any, author: str | None) -> LabelOut:
    """A LabelOut from a labels row or ORM object."""
    return LabelOut(
        id=label.id,
        project_id=label.project_id,
        asset_id=label.asset_id,
        author_id=label.author_id,
        author=author,
        label_type=LabelType(label.label_type),
        json_response=label.json_response,
        seconds_to_label=label.seconds_to_label,
        model_version_id=label.model_version_id,
        agrees_with_prediction=label.agrees_with_prediction,
        created_at=label.created_at,
    )


def prediction_out(pred: Any, display_name: str) -> PredictionOut:
    """A PredictionOut from a predictions row or ORM object."""
    return PredictionOut(
        id=pred.id,
        project_id=pred.project_id,
        asset_id=pred.asset_id,
        model_version_id=pred.model_version_id,
        model_name=display_name,
        json_response=pred.json_response,
        confidence=pred.confidence,
        created_at=pred.created_at,
    )


def assets_out(
    session: Session, assets: Sequence[Any], *, include_labels: bool = True, include_prediction: bool = True
) -> list[AssetOut]:
    """DTOs for a page of assets (asset rows or ORM objects), with their labels (newest first) and current
    prediction, in two more queries for the whole page."""
    ids = [a.id for a in assets]
    labels = repo.labels_for_assets(session, ids) if include_labels and ids else {}
    preds = repo.current_predictions(session, ids) if include_prediction and ids else {}
    out = []
    for a in assets:
        pred = preds.get(a.id)
        out.append(
            AssetOut(
                id=a.id,
                project_id=a.project_id,
                external_id=a.external_id,
                content=a.content,
                json_metadata=a.json_metadata or {},
                is_honeypot=bool(a.is_honeypot),
                priority=a.priority,
                status=AssetStatus(a.status),
                review_reason=a.review_reason,
                review_score=a.review_score,
                created_at=a.created_at,
                updated_at=a.updated_at,
                labels=[label_out(lb, who) for lb, who in labels.get(a.id, [])],
                current_prediction=prediction_out(*pred) if pred else None,
            )
        )
    return out


def asset_out(session: Session, asset: Any) -> AssetOut:
    return assets_out(session, [asset])[0]


# --- import -----------------------------------------------------------------------------------------------
def _validate_records(
    records: Sequence[AssetIn], interface: Interface
) -> list[tuple[AssetIn, dict[str, Any] | None, dict[str, Any] | None]]:
    seen: dict[str, int] = {}
    out = []
    for i, rec in enumerate(records, start=1):
        # Messages are built only on failure: this loop runs for every record of large imports.
        ext = rec.external_id.strip() if isinstance(rec.external_id, str) else ""
        if not ext:
            raise InvalidInput(f"Record {i} has an empty external id.")
        if len(ext) > MAX_EXTERNAL_ID:
            raise InvalidInput(f"{_where(i, rec)}: the external id is longer than {MAX_EXTERNAL_ID} characters.")
        if ext in seen:
            raise InvalidInput(
                f"{_where(i, rec)}: external id {ext!r} appears twice in this import (records {seen[ext]} "
                f"and {i}); external ids must be unique.",
                details={"external_id": ext},
            )
        seen[ext] = i
        if not rec.content or rec.content.isspace():
            raise InvalidInput(f"{_where(i, rec)}: the text is empty; give every asset a text.")
        _check_storable_record(i, rec)
        label = gold = None
        if rec.label is not None or rec.honeypot_response is not None:
            try:
                label = validate_label_response(interface, rec.label) if rec.label is not None else None
                gold = (
                    validate_label_response(interface, rec.honeypot_response)
                    if rec.honeypot_response is not None
                    else None
                )
            except InvalidInput as exc:
                raise InvalidInput(f"{_where(i, rec)}: {exc.message}") from None
        if ext != rec.external_id:
            rec = rec.model_copy(update={"external_id": ext})
        out.append((rec, label, gold))
    return out


def _check_storable_record(i: int, rec: AssetIn) -> None:
    if "\x00" in rec.external_id:
        raise InvalidInput(f"Record {i}: the external id contains a NUL character (U+0000); remove it.")
    check_storable(rec.content, f"{_where(i, rec)}: the text")
    check_storable(rec.json_metadata, f"{_where(i, rec)}: json_metadata")


def _where(i: int, rec: AssetIn) -> str:
    return f"record {i} (external id {rec.external_id!r})"


def import_assets(
    store: Store,
    actor: Actor,
    project_id: int,
    records: Sequence[AssetIn],
    *,
    on_conflict: OnConflict = "error",
    allow_duplicate_texts: bool = False,
    spelling: Spelling = API,
) -> ImportResult:
    """Import records in one transaction (admin only).

    on_conflict decides what happens to records whose external id already exists in the project: "error"
    (Conflict naming them, nothing written), "skip" (left as they are) or "update" (content, metadata and
    honeypot fields replaced). An initial label (`AssetIn.label`) is added as a DEFAULT label by the actor for
    new assets, and for updated ones that have no label yet, so re-importing never duplicates labels.

    A new record whose text is already in the project under an id of the other kind (an id made from the text,
    `importing.text_id`, against one from a column) is refused (Conflict, nothing written) unless
    `allow_duplicate_texts`: it is the same text imported once without and once with its file's ids, and would
    become a second asset. `spelling`: how the caller's interface writes options in the messages' advice.
    """
    if on_conflict not in ("skip", "update", "error"):
        raise InvalidInput(f"Unknown on_conflict {on_conflict!r}; use 'skip', 'update' or 'error'.")
    if not records:
        raise InvalidInput("Nothing to import: the list of records is empty.")
    with store.transaction() as s:
        project, _ = require(s, actor, project_id, Role.ADMIN, "import assets")
        checked = _validate_records(records, interface_of(project))
        # A project's first import needs no per-id lookups.
        has_assets = assets_repo.project_has_assets(s, project_id)
        existing = (
            repo.asset_ids_by_external_id(s, project_id, [r.external_id for r, _, _ in checked]) if has_assets else {}
        )
        if existing and on_conflict == "error":
            some = sorted(existing)[:5]
            raise Conflict(
                f"{len(existing)} external id(s) already exist in project {project_id} (e.g. {some}); "
                f"choose {spelling.option('on_conflict', 'skip')} to leave them as they are or "
                f"{spelling.option('on_conflict', 'update')} to replace them.",
                details={"existing": some, "count": len(existing)},
            )
        if has_assets and not allow_duplicate_texts:
            new = [r for r, _, _ in checked if r.external_id not in existing]
            _refuse_duplicate_texts(s, project_id, new, spelling)
        now = t.utcnow()
        # until a model scores them, new assets are served in random order unless the project asks for
        # file order (priorities in [0, 1); ties, i.e. "import", by id); "diverse" is random until the
        # prepare job has put the most representative texts in front (priorities above 1)
        shuffle = training_setting(project.settings, "queue_initial_order") != "import"
        rng = random.Random()
        new_rows: list[dict[str, Any]] = []
        new_labels: dict[str, dict[str, Any]] = {}
        updates: list[dict[str, Any]] = []
        update_labels: dict[str, dict[str, Any]] = {}
        skipped = 0
        for rec, label, gold in checked:
            row = {
                "project_id": project_id,
                "external_id": rec.external_id,
                "content": rec.content,
                "json_metadata": rec.json_metadata,
                "is_honeypot": rec.is_honeypot,
                "honeypot_response": gold,
                "updated_at": now,
            }
            if rec.external_id in existing:
                if on_conflict == "skip":
                    skipped += 1
                    continue
                updates.append(row)
                if label is not None:
                    update_labels[rec.external_id] = label
            else:
                row.update(
                    created_at=now,
                    priority=rng.random() if shuffle else 0.0,
                    status=AssetStatus.LABELED.value if label is not None else AssetStatus.TODO.value,
                )
                new_rows.append(row)
                if label is not None:
                    new_labels[rec.external_id] = label
        repo.insert_rows(s, t.Asset, new_rows)
        repo.upsert_rows(
            s,
            t.Asset,
            updates,
            conflict_cols=["project_id", "external_id"],
            update_cols=["content", "json_metadata", "is_honeypot", "honeypot_response", "updated_at"],
        )
        n_labels = _import_labels(s, actor, project_id, new_labels, update_labels, now)
        if new_rows or updates:  # new texts to encode (and, before a first model, a first queue order)
            queue_prepare(s, project_id, project.settings)
        return ImportResult(created=len(new_rows), updated=len(updates), skipped=skipped, labels_created=n_labels)


def import_parsed(
    store: Store,
    actor: Actor,
    project_id: int,
    parsed: ParsedImport,
    *,
    on_conflict: OnConflict = "error",
    allow_duplicate_texts: bool = False,
    spelling: Spelling = API,
) -> ImportResult:
    """`import_assets` of a parsed file; the result also says which column the ids came from."""
    result = import_assets(
        store,
        actor,
        project_id,
        parsed.records,
        on_conflict=on_conflict,
        allow_duplicate_texts=allow_duplicate_texts,
        spelling=spelling,
    )
    return result.model_copy(update={"id_column": parsed.id_column, "id_source": parsed.id_source})


def _refuse_duplicate_texts(s: Session, project_id: int, new: list[AssetIn], spelling: Spelling) -> None:
    """Conflict if a new record's text is in the project under an id of the other kind (see `import_assets`)."""
    by_text = [r for r in new if is_text_id(r.external_id)]
    by_column = [r for r in new if not is_text_id(r.external_id)]
    pairs: list[tuple[str, str]] = []  # (the record's id, the id its text already has)
    if by_column and repo.has_text_ids(s, project_id, made_from_text=True):
        wanted = {text_id(r.content): r.external_id for r in by_column}
        pairs += [(wanted[h], h) for h in repo.asset_ids_by_external_id(s, project_id, list(wanted))]
    if by_text and repo.has_text_ids(s, project_id, made_from_text=False):
        found = repo.external_ids_by_content(s, project_id, [r.content for r in by_text])
        pairs += [(r.external_id, found[r.content]) for r in by_text if r.content in found]
        pairs = [(e, o) for e, o in pairs if is_text_id(e) != is_text_id(o)]
    if not pairs:
        return
    ext, old = sorted(pairs)[0]
    if is_text_id(old):
        why = (
            "the project's assets got ids made from their text (their file had no id column), this import's "
            "come from a column"
        )
        fix = f"import with {spelling.option('ids_from_text', True)} so that the ids match the assets there"
    else:
        why = "this import's ids are made from the text (no id column), the project's assets have ids from a column"
        fix = f"name the file's id column, if it has one, with {spelling.option('id_column', 'NAME')}"
    raise Conflict(
        f"{len(pairs)} text(s) of this import are already in project {project_id} under another external id "
        f"(e.g. the text of {ext!r} is asset {old!r}): {why}. Importing them would make a second asset of each. "
        f"To keep one asset per text, {fix}; to add them anyway, "
        f"{spelling.option('allow_duplicate_texts', True)}.",
        details={"count": len(pairs), "examples": [{"external_id": e, "existing": o} for e, o in sorted(pairs)[:5]]},
    )


def _import_labels(
    s: Session,
    actor: Actor,
    project_id: int,
    new_labels: dict[str, dict[str, Any]],
    update_labels: dict[str, dict[str, Any]],
    now: Any,
) -> int:
    if not new_labels and not update_labels:
        return 0
    ids = repo.asset_ids_by_external_id(s, project_id, [*new_labels, *update_labels])
    rows = [(ids[ext], resp) for ext, resp in new_labels.items()]
    if update_labels:
        labeled = labels_repo.labeled_asset_ids(s, [ids[ext] for ext in update_labels])
        fresh = [(ids[ext], resp) for ext, resp in update_labels.items() if ids[ext] not in labeled]
        rows.extend(fresh)
        repo.update_rows_by_id(
            s,
            t.Asset,
            [{"id": aid, "status": AssetStatus.LABELED.value} for aid, _ in fresh],
        )
    repo.insert_rows(
        s,
        t.Label,
        [
            {
                "project_id": project_id,
                "asset_id": aid,
                "author_id": actor.user_id,
                "label_type": LabelType.DEFAULT.value,
                "json_response": resp,
                "created_at": now,
            }
            for aid, resp in rows
        ],
    )
    return len(rows)


# --- reading ------------------------------------------------------------------------------------------------
def _conditions(project_id: int, filt: AssetFilter | None) -> list[Any]:
    f = filt or AssetFilter()
    check_storable(f.text_contains, "text_contains")
    check_storable(f.external_ids, "external_ids")
    return repo.asset_conditions(
        project_id,
        statuses=f.statuses(),
        labeled=f.labeled,
        predicted=f.predicted,
        model_version_id=f.model_version_id,
        is_honeypot=f.is_honeypot,
        text_contains=f.text_contains,
        external_ids=f.external_ids,
        review_flagged=f.review_flagged,
    )


def encode_cursor(asset_id: int) -> str:
    return str(asset_id)


def decode_cursor(after: str | int | None) -> int:
    if after is None or after == "":
        return 0
    try:
        value = int(after)
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid cursor {after!r}; pass the next_cursor of the previous page.") from None
    if value < 0:
        raise InvalidInput(f"Invalid cursor {after!r}; pass the next_cursor of the previous page.")
    return value


def list_assets(
    store: Store,
    actor: Actor,
    project_id: int,
    filt: AssetFilter | None = None,
    *,
    after: str | None = None,
    limit: int = 100,
    include_labels: bool = True,
    include_prediction: bool = True,
) -> AssetPage:
    """One page of the project's assets ordered by id (keyset: pass `next_cursor` as `after`)."""
    if not 1 <= int(limit) <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}; got {limit}.")
    after_id = decode_cursor(after)
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        rows, more = repo.asset_page(s, _conditions(project_id, filt), after_id=after_id, limit=int(limit))
        items = assets_out(s, rows, include_labels=include_labels, include_prediction=include_prediction)
        return AssetPage(items=items, next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


def count_assets(store: Store, actor: Actor, project_id: int, filt: AssetFilter | None = None) -> int:
    """How many assets match the filter."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        return repo.count_assets(s, _conditions(project_id, filt))


def get_asset(store: Store, actor: Actor, project_id: int, asset_id: int) -> AssetOut:
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        return asset_out(s, asset_or_404(s, project_id, asset_id))


def get_asset_by_external_id(store: Store, actor: Actor, project_id: int, external_id: str) -> AssetOut:
    check_storable(external_id, "The external id")  # PostgreSQL cannot even compare a NUL character
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        asset = assets_repo.asset_by_external_id(s, project_id, external_id)
        if asset is None:
            raise NotFound(f"No asset with external id {external_id!r} in project {project_id}.")
        return asset_out(s, asset)


def iter_assets(
    store: Store,
    project_id: int,
    filt: AssetFilter | None = None,
    *,
    chunk: int = 1000,
    include_labels: bool = False,
    include_prediction: bool = False,
) -> Iterator[AssetOut]:
    """Every matching asset by id, each chunk read in its own short transaction (for export and the worker;
    no role check: callers check first)."""
    conditions = _conditions(project_id, filt)
    after_id = 0
    while True:
        with store.transaction(read_only=True) as s:
            rows, more = repo.asset_page(s, conditions, after_id=after_id, limit=chunk)
            items = assets_out(s, rows, include_labels=include_labels, include_prediction=include_prediction)
            last_id = rows[-1].id if rows else None
        yield from items
        if not more or last_id is None:
            return
        after_id = last_id


def _effective(labels: list[LabelOut]) -> LabelOut | None:
    for kind in (LabelType.REVIEW, LabelType.DEFAULT):
        for lb in labels:  # newest first
            if lb.label_type == kind:
                return lb
    return None


def export_assets(
    store: Store,
    actor: Actor,
    project_id: int,
    fmt: Literal["csv", "jsonl", "parquet"] = "jsonl",
    filt: AssetFilter | None = None,
    *,
    escape_formulas: bool = True,
) -> Iterator[bytes]:
    """Stream the project's assets as CSV, JSONL or Parquet, each with its labels and current prediction.

    JSONL: one object per asset: external_id, content, json_metadata, is_honeypot, status, ``label`` (the
    effective json_response or null), ``labels`` (DEFAULT/REVIEW labels, newest first) and
    ``current_prediction`` (model, json_response, confidence). CSV: external_id, content, status, is_honeypot,
    json_metadata, then per job ``label:JOB`` and ``prediction:JOB`` (category keys joined by ``|``) and
    ``probability:JOB``, then ``label_json``, ``label_type``, ``label_author``, ``prediction_model``.
    Parquet: the CSV columns with Parquet's types (`service.parquet`), one row group per 2,000 assets.
    The role check happens when this is called; bytes are produced as the iterator is consumed.

    `escape_formulas` (CSV only; JSONL and Parquet are never escaped): a CSV is opened in spreadsheets, which run
    a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (OWASP "CSV
    injection"), so such a text cell gets a leading ``'`` (`escape_formula`), which Excel, LibreOffice and
    Google Sheets read as "text follows". The CSV import removes it again (`importing.unescape_formula`), so an
    export re-imports as it was; False writes every cell verbatim.
    """
    if fmt not in ("csv", "jsonl", "parquet"):
        raise InvalidInput(f"Unknown export format {fmt!r}; use csv, jsonl or parquet.")
    with store.transaction(read_only=True) as s:
        project, _ = require(s, actor, project_id)
        jobs = [j.name for j in interface_of(project).jobs]
    items = iter_assets(store, project_id, filt, include_labels=True, include_prediction=True)
    if fmt == "parquet":
        from prelabel.service import parquet

        parquet.check_available()  # before the first byte: a missing pyarrow is a 4xx, not a broken download
        return parquet.export_rows(((a, _effective(a.labels)) for a in items), jobs)
    return _export_csv(items, jobs, escape_formulas) if fmt == "csv" else _export_jsonl(items)


def _export_jsonl(items: Iterator[AssetOut]) -> Iterator[bytes]:
    buf: list[str] = []
    for a in items:
        labels = [lb for lb in a.labels if lb.label_type != LabelType.AUTOSAVE]
        eff = _effective(labels)
        pred = a.current_prediction
        obj = {
            "external_id": a.external_id,
            "content": a.content,
            "json_metadata": a.json_metadata,
            "is_honeypot": a.is_honeypot,
            "status": a.status.value,
            "label": eff.json_response if eff else None,
            "labels": [
                {
                    "label_type": lb.label_type.value,
                    "author": lb.author,
                    "json_response": lb.json_response,
                    "seconds_to_label": lb.seconds_to_label,
                    "created_at": lb.created_at.isoformat(),
                }
                for lb in labels
            ],
            "current_prediction": (
                {"model": pred.model_name, "json_response": pred.json_response, "confidence": pred.confidence}
                if pred
                else None
            ),
        }
        buf.append(json.dumps(obj, ensure_ascii=False))
        if len(buf) >= 500:
            yield ("\n".join(buf) + "\n").encode()
            buf = []
    if buf:
        yield ("\n".join(buf) + "\n").encode()


def _names(resp: dict[str, Any] | None, job: str) -> list[str]:
    if not resp or job not in resp:
        return []
    return [c["name"] for c in resp[job].get("categories", [])]


def escape_formula(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with ``'``; also one that already starts with
    ``'`` and then such a character or another ``'``, so that removing one ``'`` on import always gives the
    text back (`importing.unescape_formula`). Other values are unchanged."""
    if isinstance(value, str) and needs_formula_escape(value):
        return "'" + value
    return value


def _export_csv(items: Iterator[AssetOut], jobs: list[str], escape_formulas: bool) -> Iterator[bytes]:
    out = io.StringIO()
    w = csv.writer(out)
    header = ["external_id", "content", "status", "is_honeypot", "json_metadata"]
    for j in jobs:
        header += [f"label:{j}", f"prediction:{j}", f"probability:{j}"]
    header += ["label_json", "label_type", "label_author", "prediction_model"]
    w.writerow(header)
    for n, a in enumerate(items, start=1):
        eff = _effective(a.labels)
        pred = a.current_prediction
        row: list[Any] = [
            a.external_id,
            a.content,
            a.status.value,
            int(a.is_honeypot),
            json.dumps(a.json_metadata, ensure_ascii=False),
        ]
        for j in jobs:
            pnames = _names(pred.json_response if pred else None, j)
            probs = [
                c.get("probability") for c in (pred.json_response.get(j, {}).get("categories", []) if pred else [])
            ]
            row += [
                "|".join(_names(eff.json_response if eff else None, j)),
                "|".join(pnames),
                "|".join(f"{p:.4f}" for p in probs if p is not None),
            ]
        row += [
            json.dumps(eff.json_response, ensure_ascii=False) if eff else "",
            eff.label_type.value if eff else "",
            (eff.author or "") if eff else "",
            pred.model_name if pred else "",
        ]
        w.writerow([escape_formula(v) for v in row] if escape_formulas else row)
        if n % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


# --- deleting -----------------------------------------------------------------------------------------------
def delete_assets(
    store: Store,
    actor: Actor,
    project_id: int,
    *,
    asset_ids: Sequence[int] | None = None,
    external_ids: Sequence[str] | None = None,
) -> int:
    """Delete assets (with their labels and predictions) by id or external id (admin only); returns the count.
    Unknown ids are refused (NotFound naming them) and nothing is deleted."""
    if not asset_ids and not external_ids:
        raise InvalidInput("Say which assets to delete: asset_ids or external_ids.")
    with store.transaction() as s:
        require(s, actor, project_id, Role.ADMIN, "delete assets")
        ids: set[int] = set()
        if asset_ids:
            found = repo.existing_asset_ids(s, project_id, list(asset_ids))
            missing = sorted(set(asset_ids) - found)
            if missing:
                raise NotFound(f"Asset id(s) {missing[:10]} not found in project {project_id}; nothing deleted.")
            ids |= found
        if external_ids:
            by_ext = repo.asset_ids_by_external_id(s, project_id, list(external_ids))
            missing_ext = sorted(set(external_ids) - set(by_ext))
            if missing_ext:
                raise NotFound(f"External id(s) {missing_ext[:10]} not found in project {project_id}; nothing deleted.")
            ids |= set(by_ext.values())
        assets_repo.delete_assets(s, sorted(ids))
        return len(ids)
