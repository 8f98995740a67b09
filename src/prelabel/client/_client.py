"""`Client`: the Python SDK over prelabel's REST API (httpx only; nothing from the server is imported).

Two families of methods:

- typed methods named after the API (`create_project`, `import_assets`, `iter_assets`, `push_predictions`, …)
  returning the dataclasses of `prelabel.client` (`Project`, `Asset`, …);
- the original workflow's names (`projects`, `assets`, `append_many_to_dataset`, `create_predictions`)
  returning dicts in the original camelCase shape, so scripts written for it port almost verbatim.
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from prelabel.client._exceptions import error_from_response
from prelabel.client._models import (
    Asset,
    AssetPage,
    ImportResult,
    Label,
    Member,
    ModelVersion,
    Prediction,
    Project,
    ProjectStats,
    Token,
    TrainingJob,
    User,
    UserSession,
)
from prelabel.client._transport import SyncOverAsyncTransport

DEFAULT_TIMEOUT = 60.0
"""Seconds for connect/read/write of one request (an import of 100k assets takes a few seconds)."""
DEFAULT_PAGE_SIZE = 500
"""Assets fetched per request by `iter_assets` / `assets`."""
MAX_PAGE_SIZE = 1000
API_PREFIX = "/api/v1"
USER_AGENT = "prelabel-client/0.1"

OnConflict = Literal["error", "skip", "update"]
ExportFormat = Literal["csv", "jsonl", "parquet"]
FileFormat = Literal["csv", "jsonl", "json", "parquet"]

_CONTENT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
_SUFFIXES: dict[str, FileFormat] = {
    "csv": "csv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "json",
    "parquet": "parquet",
    "pq": "parquet",
}


def _optional(module: str, what: str) -> Any:
    """`module`, imported now: pandas and pyarrow are optional, only the DataFrame methods need them."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs pandas and pyarrow, which the prelabel SDK does not install: pip install pandas pyarrow"
        ) from None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _filter_params(
    *,
    status: str | Sequence[str] | None = None,
    labeled: bool | None = None,
    predicted: bool | None = None,
    model_version_id: int | None = None,
    is_honeypot: bool | None = None,
    text_contains: str | None = None,
    external_ids: Sequence[str] | None = None,
    review_flagged: bool | None = None,
) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if status is not None:
        for s in [status] if isinstance(status, str) else status:
            params.append(("status", str(s)))
    for name, flag in (
        ("labeled", labeled),
        ("predicted", predicted),
        ("is_honeypot", is_honeypot),
        ("review_flagged", review_flagged),
    ):
        if flag is not None:
            params.append((name, _bool(flag)))
    if model_version_id is not None:
        params.append(("model_version_id", str(model_version_id)))
    if text_contains:
        params.append(("text_contains", text_contains))
    for ext in external_ids or ():
        params.append(("external_id", ext))
    return params


class Client:
    """A prelabel server at `url`, authenticated by an API token (`prelabel token create USERNAME`).

    `transport` is any httpx transport, sync or async: ``httpx.ASGITransport(app)`` talks to the app
    in-process (tests). Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        base = url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.url = base
        all_headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, **(headers or {})}
        if isinstance(transport, httpx.AsyncBaseTransport):  # e.g. httpx.ASGITransport(app), in tests
            transport = SyncOverAsyncTransport(transport)
        self._http = httpx.Client(base_url=base, headers=all_headers, timeout=timeout, transport=transport)

    # --- plumbing -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, API_PREFIX + path if path.startswith("/") else path, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # --- server and me --------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The server's /health report (database reachability, schema version); needs no token."""
        response = self._http.get("/health")
        if response.status_code >= 400:
            raise error_from_response(response)
        data: dict[str, Any] = response.json()
        return data

    def me(self) -> User:
        return User.from_json(self._json("GET", "/me"))

    def create_token(self, name: str) -> tuple[Token, str]:
        """A new API token for the calling user: its record and its secret (shown once)."""
        data = self._json("POST", "/tokens", json={"name": name})
        return Token.from_json(data["token"]), str(data["secret"])

    def list_tokens(self) -> list[Token]:
        return [Token.from_json(x) for x in self._json("GET", "/tokens")]

    def revoke_token(self, token_id: int) -> None:
        self._request("DELETE", f"/tokens/{token_id}")

    def change_password(self, current_password: str, new_password: str) -> int:
        """Change the calling user's password; every browser session of the user ends. Returns how many did."""
        body = {"current_password": current_password, "new_password": new_password}
        return int(self._json("POST", "/me/password", json=body)["sessions_ended"])

    # --- users and their sessions (superusers) --------------------------------------------------------------
    def list_users(self) -> list[User]:
        return [User.from_json(x) for x in self._json("GET", "/users")]

    def set_user_active(self, user_id: int, active: bool) -> User:
        """Activate or deactivate a user; deactivating ends their sessions and refuses their API tokens."""
        return User.from_json(self._json("PATCH", f"/users/{user_id}", json={"is_active": active}))

    def list_sessions(self, user_id: int) -> list[UserSession]:
        """A user's browser sessions, newest first (ended ones too, for 30 days)."""
        return [UserSession.from_json(x) for x in self._json("GET", f"/users/{user_id}/sessions")]

    def end_sessions(self, user_id: int, session_id: int | None = None) -> int:
        """End one browser session of a user, or all of them; returns how many ended."""
        path = f"/users/{user_id}/sessions" + (f"/{session_id}" if session_id is not None else "")
        return int(self._json("DELETE", path)["ended"])

    # --- projects -------------------------------------------------------------------------------------------
    def create_project(
        self,
        title: str,
        interface: dict[str, Any],
        *,
        description: str = "",
        settings: dict[str, Any] | None = None,
    ) -> Project:
        """Create a project; `interface` in our shape (``{"jobs": [...]}``) or the original
        ``jsonInterface``. A job may carry its question (``instruction``) and a category a ``description``
        (what the class means, at most 1,000 characters), which zero-shot suggestions read."""
        body: dict[str, Any] = {"title": title, "description": description, "interface": interface}
        if settings is not None:
            body["settings"] = settings
        return Project.from_json(self._json("POST", "/projects", json=body))

    def list_projects(self) -> list[Project]:
        return [Project.from_json(x) for x in self._json("GET", "/projects")]

    def get_project(self, project_id: int) -> Project:
        return Project.from_json(self._json("GET", f"/projects/{project_id}"))

    def update_project(
        self,
        project_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        interface: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Project:
        body = {
            k: v
            for k, v in (
                ("title", title),
                ("description", description),
                ("interface", interface),
                ("settings", settings),
            )
            if v is not None
        }
        return Project.from_json(self._json("PATCH", f"/projects/{project_id}", json=body))

    def delete_project(self, project_id: int) -> None:
        """Delete a project and all its assets, labels and predictions (admins)."""
        self._request("DELETE", f"/projects/{project_id}")

    def project_stats(self, project_id: int) -> ProjectStats:
        return ProjectStats.from_json(self._json("GET", f"/projects/{project_id}/stats"))

    def list_members(self, project_id: int) -> list[Member]:
        return [Member.from_json(x) for x in self._json("GET", f"/projects/{project_id}/members")]

    def add_member(self, project_id: int, username: str, role: str) -> Member:
        data = self._json(
            "POST", f"/projects/{project_id}/members", json={"username": username, "role": role}
        )
        return Member.from_json(data)

    def remove_member(self, project_id: int, username: str) -> None:
        self._request("DELETE", f"/projects/{project_id}/members/{username}")

    # --- assets ---------------------------------------------------------------------------------------------
    def import_assets(
        self, project_id: int, assets: Sequence[Mapping[str, Any]], *, on_conflict: OnConflict = "error"
    ) -> ImportResult:
        """Import assets given as dicts (``external_id``, ``content``, optional ``json_metadata``,
        ``is_honeypot``, ``label``): one request, one transaction."""
        data = self._json(
            "POST", f"/projects/{project_id}/assets", params={"on_conflict": on_conflict}, json=list(assets)
        )
        return ImportResult.from_json(data)

    def import_file(
        self,
        project_id: int,
        file: str | Path | bytes,
        *,
        format: FileFormat | None = None,
        on_conflict: OnConflict = "error",
        text_column: str | None = None,
        id_column: str | None = None,
        ids_from_text: bool = False,
        allow_duplicate_texts: bool = False,
        metadata_columns: Sequence[str] | None = None,
        honeypot_column: str | None = None,
        label_column: str | None = None,
    ) -> ImportResult:
        """Import a CSV / JSONL / JSON / Parquet file (a path, or its bytes with `format`) as one transaction.

        Without `id_column` the server takes the ids from the file's ``external_id`` column, else its ``id``
        column, else its one ``*_id`` column, else makes them from each text; the result's ``id_column`` and
        ``id_source`` say which. `ids_from_text` always makes them from the text. A text already in the project
        under an id of the other kind (from the text vs from a column) refuses the import (ConflictError) unless
        `allow_duplicate_texts`."""
        if isinstance(file, bytes):
            data = file
            if format is None:
                raise ValueError("format= is required when passing bytes ('csv', 'jsonl', 'json' or 'parquet')")
        else:
            path = Path(file)
            data = path.read_bytes()
            if format is None:
                format = _SUFFIXES.get(path.suffix.lower().lstrip("."))
                if format is None:
                    raise ValueError(
                        f"cannot tell the format of {path.name}; pass format='csv'|'jsonl'|'json'|'parquet'"
                    )
        params: dict[str, str] = {"on_conflict": on_conflict, "format": format}
        for key, value in (
            ("text_column", text_column),
            ("id_column", id_column),
            ("honeypot_column", honeypot_column),
            ("label_column", label_column),
        ):
            if value is not None:
                params[key] = value
        for key, flag in (("ids_from_text", ids_from_text), ("allow_duplicate_texts", allow_duplicate_texts)):
            if flag:
                params[key] = "true"
        if metadata_columns:
            params["metadata_columns"] = ",".join(metadata_columns)
        response = self._json(
            "POST",
            f"/projects/{project_id}/assets",
            params=params,
            content=data,
            headers={"Content-Type": _CONTENT_TYPES[format]},
        )
        return ImportResult.from_json(response)

    def import_dataframe(self, project_id: int, frame: Any, **options: Any) -> ImportResult:
        """Import a pandas DataFrame (sent as Parquet; the options of `import_file`). Needs pandas and pyarrow."""
        _optional("pyarrow", "import_dataframe")
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.import_file(project_id, buffer.getvalue(), format="parquet", **options)

    def list_assets(
        self,
        project_id: int,
        *,
        after: str | None = None,
        limit: int = 100,
        include_labels: bool = True,
        status: str | Sequence[str] | None = None,
        labeled: bool | None = None,
        predicted: bool | None = None,
        model_version_id: int | None = None,
        is_honeypot: bool | None = None,
        text_contains: str | None = None,
        external_ids: Sequence[str] | None = None,
        review_flagged: bool | None = None,
    ) -> AssetPage:
        """One page of assets (ordered by id); pass `next_cursor` back as `after` for the next one."""
        params = _filter_params(
            status=status,
            labeled=labeled,
            predicted=predicted,
            model_version_id=model_version_id,
            is_honeypot=is_honeypot,
            text_contains=text_contains,
            external_ids=external_ids,
            review_flagged=review_flagged,
        )
        params += [("limit", str(limit)), ("include_labels", _bool(include_labels))]
        if after is not None:
            params.append(("after", after))
        return AssetPage.from_json(self._json("GET", f"/projects/{project_id}/assets", params=params))

    def iter_assets(
        self, project_id: int, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any
    ) -> Iterator[Asset]:
        """Every asset matching `filters` (the keyword arguments of `list_assets`), page by page."""
        after: str | None = None
        while True:
            page = self.list_assets(project_id, after=after, limit=page_size, **filters)
            yield from page.items
            if page.next_cursor is None or not page.items:
                return
            after = page.next_cursor

    def get_asset(self, project_id: int, asset_id: int) -> Asset:
        return Asset.from_json(self._json("GET", f"/projects/{project_id}/assets/{asset_id}"))

    def get_asset_by_external_id(self, project_id: int, external_id: str) -> Asset:
        return Asset.from_json(
            self._json("GET", f"/projects/{project_id}/assets/by-external-id/{_quote(external_id)}")
        )

    # --- labels ---------------------------------------------------------------------------------------------
    def create_label(
        self,
        project_id: int,
        asset_id: int,
        json_response: dict[str, Any],
        *,
        label_type: Literal["DEFAULT", "REVIEW", "AUTOSAVE"] = "DEFAULT",
        seconds_to_label: float | None = None,
        model_version_id: int | None = None,
    ) -> Label:
        body: dict[str, Any] = {"json_response": json_response, "label_type": label_type}
        if seconds_to_label is not None:
            body["seconds_to_label"] = seconds_to_label
        if model_version_id is not None:
            body["model_version_id"] = model_version_id
        return Label.from_json(
            self._json("POST", f"/projects/{project_id}/assets/{asset_id}/labels", json=body)
        )

    def list_labels(
        self, project_id: int, *, asset_id: int | None = None, after: int | None = None, limit: int = 100
    ) -> list[Label]:
        params: dict[str, Any] = {"limit": limit}
        if asset_id is not None:
            params["asset_id"] = asset_id
        if after is not None:
            params["after"] = after
        return [
            Label.from_json(x) for x in self._json("GET", f"/projects/{project_id}/labels", params=params)
        ]

    def undo_label(self, project_id: int, label_id: int) -> Label:
        """Remove your own newest label on an asset (its status reverts); returns the removed label."""
        return Label.from_json(self._json("DELETE", f"/projects/{project_id}/labels/{label_id}"))

    # --- predictions and model versions ---------------------------------------------------------------------
    def push_predictions(
        self,
        project_id: int,
        items: Iterable[Mapping[str, Any]],
        *,
        model_name: str | None = None,
        model_version_id: int | None = None,
        new_version: bool = False,
    ) -> int:
        """Store predictions (dicts with ``external_id`` or ``asset_id`` and ``json_response``) in one
        transaction, under the model version named `model_name` (created when new) or `model_version_id`;
        `new_version` starts the next version of `model_name` (see `push_predictions_report`)."""
        return int(
            self.push_predictions_report(
                project_id, items, model_name=model_name, model_version_id=model_version_id, new_version=new_version
            )["created"]
        )

    def push_predictions_report(
        self,
        project_id: int,
        items: Iterable[Mapping[str, Any]],
        *,
        model_name: str | None = None,
        model_version_id: int | None = None,
        new_version: bool = False,
    ) -> dict[str, Any]:
        """`push_predictions`, returning the server's report: ``created``, ``model_version_id``, ``model_name``
        (the version's display name, e.g. ``my-model-4``, which the predictions carry) and ``note`` (set when
        labelers do not see these predictions as suggestions: the project trusts its own models, setting
        ``suggestions_from``)."""
        body: dict[str, Any] = {"items": [dict(x) for x in items]}
        if model_name is not None:
            body["model_name"] = model_name
        if model_version_id is not None:
            body["model_version_id"] = model_version_id
        if new_version:
            body["new_version"] = True
        return dict(self._json("POST", f"/projects/{project_id}/predictions", json=body))

    def list_predictions(
        self,
        project_id: int,
        *,
        asset_id: int | None = None,
        model_version_id: int | None = None,
        after: int | None = None,
        limit: int = 100,
        include_unready: bool = False,
    ) -> list[Prediction]:
        """Predictions in id order. Only READY model versions' unless `include_unready`, or unless
        `model_version_id` names a version (its predictions whatever its status)."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("asset_id", asset_id), ("model_version_id", model_version_id), ("after", after)):
            if value is not None:
                params[key] = value
        if include_unready:
            params["include_unready"] = "true"
        data = self._json("GET", f"/projects/{project_id}/predictions", params=params)
        return [Prediction.from_json(x) for x in data]

    def list_model_versions(self, project_id: int) -> list[ModelVersion]:
        return [
            ModelVersion.from_json(x) for x in self._json("GET", f"/projects/{project_id}/model-versions")
        ]

    def get_model_version(self, project_id: int, model_version_id: int) -> ModelVersion:
        return ModelVersion.from_json(
            self._json("GET", f"/projects/{project_id}/model-versions/{model_version_id}")
        )

    # --- the pre-annotation loop: training, queue, review ----------------------------------------------
    def train(
        self, project_id: int, *, tier: Literal["fast", "search", "both"] = "both"
    ) -> list[TrainingJob]:
        """Ask the background trainer to train now (project admins); returns the queued jobs."""
        data = self._json("POST", f"/projects/{project_id}/training", json={"tier": tier})
        return [TrainingJob.from_json(x) for x in data]

    def training_status(self, project_id: int) -> dict[str, Any]:
        """Active jobs and how many labels until the next model."""
        data: dict[str, Any] = self._json("GET", f"/projects/{project_id}/training")
        return data

    def training_jobs(self, project_id: int, *, limit: int = 20) -> list[TrainingJob]:
        """Training jobs, newest first."""
        data = self._json("GET", f"/projects/{project_id}/training/jobs", params={"limit": limit})
        return [TrainingJob.from_json(x) for x in data]

    def training_job(self, project_id: int, job_id: int) -> TrainingJob:
        return TrainingJob.from_json(self._json("GET", f"/projects/{project_id}/training/jobs/{job_id}"))

    def next_asset(self, project_id: int, *, lease_seconds: float = 300) -> Asset | None:
        """The next asset to label, leased to you (None when nothing is left)."""
        response = self._request(  # POST: it takes a lease
            "POST", f"/projects/{project_id}/queue/next", params={"lease_seconds": lease_seconds}
        )
        if response.status_code == 204:
            return None
        return Asset.from_json(response.json())

    def release_asset(self, project_id: int, asset_id: int) -> None:
        self._request("POST", f"/projects/{project_id}/queue/{asset_id}/release")

    def skip_asset(self, project_id: int, asset_id: int) -> None:
        self._request("POST", f"/projects/{project_id}/queue/{asset_id}/skip")

    def review_list(self, project_id: int, *, after: str | None = None, limit: int = 50) -> AssetPage:
        """Assets to review: likely label errors and model disagreements (reviewers and admins)."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return AssetPage.from_json(self._json("GET", f"/projects/{project_id}/review", params=params))

    # --- export ---------------------------------------------------------------------------------------------
    def export(
        self, project_id: int, *, format: ExportFormat = "jsonl", escape_formulas: bool = True
    ) -> Iterator[bytes]:
        """Stream the project's export (each asset with its latest labels and current prediction).
        `escape_formulas` (CSV only): prefix cells a spreadsheet would run as formulas with ', which the CSV
        import removes again; False writes every cell verbatim."""
        params: dict[str, Any] = {"format": format}
        if format == "csv":
            params["escape_formulas"] = "true" if escape_formulas else "false"
        with self._http.stream("GET", f"{API_PREFIX}/projects/{project_id}/export", params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            yield from response.iter_bytes()

    def export_to_file(
        self,
        project_id: int,
        path: str | Path,
        *,
        format: ExportFormat | None = None,
        escape_formulas: bool = True,
    ) -> int:
        """Write the export to `path` (format: from its suffix .jsonl/.csv/.parquet, else jsonl); returns the
        number of bytes written. The file appears under its name only once complete."""
        target = Path(path)
        if format is None:
            guessed = _SUFFIXES.get(target.suffix.lower().lstrip("."))
            format = guessed if guessed == "csv" or guessed == "parquet" else "jsonl"
        part = target.with_name(target.name + ".part")
        n = 0
        try:
            with open(part, "wb") as fh:
                for chunk in self.export(project_id, format=format, escape_formulas=escape_formulas):
                    fh.write(chunk)
                    n += len(chunk)
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        return n

    def export_dataframe(self, project_id: int) -> Any:
        """The project's export as a pandas DataFrame (the Parquet export: one row per asset, the CSV export's
        columns with their types). Needs pandas and pyarrow, which the SDK does not install."""
        pandas = _optional("pandas", "export_dataframe")
        _optional("pyarrow", "export_dataframe")
        data = b"".join(self.export(project_id, format="parquet"))
        return pandas.read_parquet(io.BytesIO(data))

    # --- the original workflow's names ----------------------------------------------------------------------
    def projects(
        self,
        project_id: int | None = None,
        *,
        search_query: str | None = None,
        fields: Sequence[str] | None = None,
        first: int = 100,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        """Projects as dicts: ``id``, ``title``, ``description``, ``jsonInterface`` (jobs → JOB → content →
        categories), ``role``, ``createdAt``. `fields` keeps only the named keys."""
        if project_id is not None:
            found = [self.get_project(project_id)]
        else:
            found = self.list_projects()
            if search_query:
                q = search_query.lower()
                found = [p for p in found if q in p.title.lower()]
        rows = [
            {
                "id": p.id,
                "title": p.title,
                "description": p.description,
                "jsonInterface": p.json_interface,
                "role": p.role,
                "createdAt": p.created_at.isoformat(),
            }
            for p in found[skip : skip + first]
        ]
        return [_select(r, fields) for r in rows]

    def assets(
        self,
        project_id: int,
        first: int = 100,
        skip: int = 0,
        fields: Sequence[str] | None = None,
        *,
        external_id_contains: Sequence[str] | None = None,
        status_in: Sequence[str] | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Assets as dicts in the original shape: ``id``, ``externalId``, ``content``, ``labels`` (each with
        ``labelType``, ``jsonResponse``, ``author``, ``createdAt``; latest first), ``status``, ``isHoneypot``,
        ``jsonMetadata``, ``currentPrediction``. Ordered by id; `skip` then `first` of them. `fields` keeps
        only the named keys ("labels.jsonResponse" keeps that key of each label). For everything, use
        `iter_assets`."""
        out: list[dict[str, Any]] = []
        if first <= 0:
            return out
        page_size = min(MAX_PAGE_SIZE, skip + first)
        seen = 0
        for asset in self.iter_assets(
            project_id, page_size=page_size, status=status_in, external_ids=external_id_contains, **filters
        ):
            seen += 1
            if seen <= skip:
                continue
            out.append(_select(asset_to_original(asset), fields))
            if len(out) >= first:
                break
        return out

    def append_many_to_dataset(
        self,
        project_id: int,
        content_array: Sequence[str],
        external_id_array: Sequence[str],
        is_honeypot_array: Sequence[bool] | None = None,
        json_metadata_array: Sequence[dict[str, Any]] | None = None,
        *,
        on_conflict: OnConflict = "error",
    ) -> dict[str, Any]:
        """Add text assets (one transaction).
        Returns ``{"id": project_id, "created", "updated", "skipped"}``."""
        n = len(content_array)
        if len(external_id_array) != n:
            raise ValueError(
                f"content_array has {n} items but external_id_array has {len(external_id_array)}"
            )
        for name, arr in (
            ("is_honeypot_array", is_honeypot_array),
            ("json_metadata_array", json_metadata_array),
        ):
            if arr is not None and len(arr) != n:
                raise ValueError(f"content_array has {n} items but {name} has {len(arr)}")
        records = []
        for i in range(n):
            rec: dict[str, Any] = {"external_id": str(external_id_array[i]), "content": content_array[i]}
            if is_honeypot_array is not None:
                rec["is_honeypot"] = bool(is_honeypot_array[i])
            if json_metadata_array is not None:
                meta = json_metadata_array[i]
                rec["json_metadata"] = json.loads(meta) if isinstance(meta, str) else meta
            records.append(rec)
        result = self.import_assets(project_id, records, on_conflict=on_conflict)
        return {
            "id": project_id,
            "created": result.created,
            "updated": result.updated,
            "skipped": result.skipped,
        }

    def create_predictions(
        self,
        project_id: int,
        external_id_array: Sequence[str],
        json_response_array: Sequence[dict[str, Any]],
        model_name: str | None = None,
        *,
        model_version_id: int | None = None,
        new_version: bool = False,
    ) -> dict[str, Any]:
        """Store one prediction per external id under `model_name` (one transaction; `new_version`: the next
        version of that family). Returns ``{"id": project_id, "created": n}`` (`push_predictions_report` tells
        more)."""
        if len(external_id_array) != len(json_response_array):
            raise ValueError(
                f"external_id_array has {len(external_id_array)} items but json_response_array has "
                f"{len(json_response_array)}"
            )
        if model_name is None and model_version_id is None:
            raise ValueError("give model_name (e.g. 'automl-3') or model_version_id")
        items = [
            {"external_id": str(e), "json_response": r}
            for e, r in zip(external_id_array, json_response_array, strict=True)
        ]
        created = self.push_predictions(
            project_id, items, model_name=model_name, model_version_id=model_version_id, new_version=new_version
        )
        return {"id": project_id, "created": created}


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def label_to_original(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "labelType": label.label_type,
        "jsonResponse": label.json_response,
        "author": {"id": label.author_id, "username": label.author},
        "createdAt": label.created_at.isoformat(),
        "secondsToLabel": label.seconds_to_label,
    }


def asset_to_original(asset: Asset) -> dict[str, Any]:
    pred = asset.current_prediction
    return {
        "id": asset.id,
        "externalId": asset.external_id,
        "content": asset.content,
        "status": asset.status,
        "isHoneypot": asset.is_honeypot,
        "jsonMetadata": asset.json_metadata,
        "priority": asset.priority,
        "createdAt": asset.created_at.isoformat(),
        "updatedAt": asset.updated_at.isoformat(),
        "labels": [label_to_original(lb) for lb in asset.labels],
        "currentPrediction": None
        if pred is None
        else {
            "id": pred.id,
            "modelName": pred.model_name,
            "modelVersionId": pred.model_version_id,
            "jsonResponse": pred.json_response,
            "confidence": pred.confidence,
            "createdAt": pred.created_at.isoformat(),
        },
    }


def _select(row: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Keep only `fields` (top-level keys; "labels.jsonResponse" keeps that key inside each label)."""
    if not fields:
        return row
    out: dict[str, Any] = {}
    nested: dict[str, list[str]] = {}
    for f in fields:
        head, _, rest = f.partition(".")
        if rest:
            nested.setdefault(head, []).append(rest)
        elif head in row:
            out[head] = row[head]
    for head, subs in nested.items():
        value = row.get(head)
        if isinstance(value, list):
            out[head] = [_select(v, subs) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            out[head] = _select(value, subs)
        elif head in row:
            out[head] = value
    return out
