"""Plain domain types shared by every layer: enums, the project interface and label/prediction responses.

A project's *interface* is a list of jobs. A job is a CLASSIFICATION task whose input is ``single`` (radio: exactly
one category) or ``multi`` (checkbox: one or more). A *json_response* maps job names to chosen categories, in the
shape of the original workflow::

    {"JOB_0": {"categories": [{"name": "DISASTER"}]}}

Each category may carry a ``description``: what a user would write to explain the class ("A tweet about a real
disaster, accident or emergency happening now"), and each job an ``instruction``: the job's question ("Is this
tweet about a real disaster?"). Both are shown on the labeling page, and zero-shot suggestions (model versions of
tier ``zero-shot``, made before the first label) are read from them.

A *prediction* response has the same shape; each chosen category also carries ``confidence`` (0-100, as in the
original workflow) and ``probability`` (0-1), and the job carries ``probabilities``: every category's probability::

    {"JOB_0": {"categories": [{"name": "DISASTER", "confidence": 87, "probability": 0.87}],
               "probabilities": {"DISASTER": 0.87, "NOT_DISASTER": 0.13}}}

A multi-choice job may also carry ``thresholds``: the model's per-category decision thresholds (0-1; 0.5 when
absent), which the labeling page's "unsure" badge is measured around.

Validation raises `prelabel.errors.InvalidInput` with a message that names the job and category at fault.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prelabel.errors import InvalidInput


class AssetStatus(StrEnum):
    TODO = "TODO"
    ONGOING = "ONGOING"
    LABELED = "LABELED"
    TO_REVIEW = "TO_REVIEW"
    REVIEWED = "REVIEWED"


class LabelType(StrEnum):
    DEFAULT = "DEFAULT"
    REVIEW = "REVIEW"
    AUTOSAVE = "AUTOSAVE"


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    LABELER = "labeler"


ROLE_RANK = {Role.LABELER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}


class ModelStatus(StrEnum):
    TRAINING = "TRAINING"
    READY = "READY"
    FAILED = "FAILED"
    WITHDRAWN = "WITHDRAWN"  # was READY; taken out of service (a zero-shot version the first labels disproved)


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-.]{0,99}$")
MAX_DESCRIPTION_CHARS = 1_000
MAX_INSTRUCTION_CHARS = 2_000


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Stable identifier stored in labels, e.g. DISASTER.")
    name: str = Field("", description="Display name; defaults to the key.")
    hotkey: str | None = Field(None, description="One keyboard character that picks this category in the UI.")
    description: str = Field(
        "",
        description="What the class means, as a user would explain it (at most 1,000 characters), e.g. 'A tweet "
        "about a real disaster, accident or emergency happening now'. Shown under the category on the labeling "
        "page; zero-shot suggestions read it.",
    )


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    task: Literal["CLASSIFICATION"] = "CLASSIFICATION"
    input: Literal["single", "multi"] = "single"
    instruction: str = Field(
        "",
        description="The job's question, e.g. 'Is this tweet about a real disaster?' (at most 2,000 characters). "
        "Shown above the categories; zero-shot suggestions read it with the categories' descriptions.",
    )
    required: bool = True
    categories: list[Category]

    def category_keys(self) -> list[str]:
        return [c.key for c in self.categories]


class Interface(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[Job]

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise InvalidInput(f"Unknown job {name!r}; this project's jobs are {[j.name for j in self.jobs]}.")


# Containers inside a stored JSON value, at most: far below the depth at which responses stop serialising (about
# 250 levels, envelopes included), far above what metadata, labels and settings need.
MAX_JSON_DEPTH = 100


def check_storable(value: Any, where: str) -> None:
    """Refuse what a database cannot store the same way on SQLite and PostgreSQL: a NUL character (U+0000) in a
    string or key, NaN or an infinity (not JSON), and JSON nested deeper than `MAX_JSON_DEPTH` levels (the API
    could store it but never answer it: responses are serialised to a bounded depth). The one check every text
    and JSON value passes on its way in. Iterative, so deeply nested values cannot exhaust the stack."""
    todo: list[tuple[Any, str, int]] = [(value, where, 0)]
    while todo:
        item, at, depth = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidInput(f"{at} contains a NUL character (U+0000), which prelabel does not store; remove it.")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise InvalidInput(f"{at} contains {item}, which is not a JSON number; use null or a finite number.")
        elif isinstance(item, dict | list | tuple) and depth >= MAX_JSON_DEPTH:
            raise InvalidInput(
                f"{where} is nested more than {MAX_JSON_DEPTH} levels deep, which prelabel does not store; flatten it."
            )
        elif isinstance(item, dict):
            for key, sub in item.items():
                todo.append((key, f"{at}: a key", depth))
                todo.append((sub, f"{at}[{key!r}]" if isinstance(key, str) and "\x00" not in key else at, depth + 1))
        elif isinstance(item, list | tuple):
            todo.extend((sub, f"{at}[{k}]", depth + 1) for k, sub in enumerate(item))


def _pydantic_message(prefix: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return f"{prefix}: " + "; ".join(parts)


def parse_interface(data: Any) -> Interface:
    """Validate an interface document; accepts our shape and the original workflow's ``jsonInterface`` shape.

    The original shape is ``{"jobs": {"JOB_0": {"mlTask": "CLASSIFICATION", "instruction": "Question?",
    "content": {"input": "radio", "categories": {"KEY": {"name": "Display", "description": "What it means"}}},
    "required": 1}}}``. Texts are stripped; a description over 1,000 characters or an instruction over 2,000
    is refused (InvalidInput naming the job and category).
    """
    check_storable(data, "Invalid interface")
    if isinstance(data, dict) and isinstance(data.get("jobs"), dict):
        data = _from_original_shape(data)
    try:
        interface = Interface.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(_pydantic_message("Invalid interface", exc)) from None
    if not interface.jobs:
        raise InvalidInput("Invalid interface: it needs at least one job.")
    seen_jobs: set[str] = set()
    for job in interface.jobs:
        where = f"job {job.name!r}"
        if not _KEY_RE.match(job.name):
            raise InvalidInput(
                f"Invalid interface: {where} has an invalid name; use letters, digits, '_', '-' or '.' (≤100)."
            )
        if job.name in seen_jobs:
            raise InvalidInput(f"Invalid interface: job name {job.name!r} is used twice.")
        seen_jobs.add(job.name)
        job.instruction = job.instruction.strip()
        if len(job.instruction) > MAX_INSTRUCTION_CHARS:
            raise InvalidInput(
                f"Invalid interface: the instruction (question) of {where} has {len(job.instruction):,} "
                f"characters; at most {MAX_INSTRUCTION_CHARS:,} are allowed."
            )
        if len(job.categories) < 2:
            raise InvalidInput(f"Invalid interface: {where} needs at least two categories.")
        keys: set[str] = set()
        hotkeys: set[str] = set()
        for cat in job.categories:
            if not _KEY_RE.match(cat.key):
                raise InvalidInput(
                    f"Invalid interface: category {cat.key!r} of {where} has an invalid key; "
                    "use letters, digits, '_', '-' or '.' (≤100)."
                )
            if cat.key in keys:
                raise InvalidInput(f"Invalid interface: category {cat.key!r} appears twice in {where}.")
            keys.add(cat.key)
            if not cat.name:
                cat.name = cat.key
            cat.description = cat.description.strip()
            if len(cat.description) > MAX_DESCRIPTION_CHARS:
                raise InvalidInput(
                    f"Invalid interface: the description of category {cat.key!r} in {where} has "
                    f"{len(cat.description):,} characters; at most {MAX_DESCRIPTION_CHARS:,} are allowed."
                )
            if cat.hotkey is not None:
                if len(cat.hotkey) != 1 or cat.hotkey.isspace():
                    raise InvalidInput(
                        f"Invalid interface: hotkey {cat.hotkey!r} of category {cat.key!r} in {where} "
                        "must be a single non-space character."
                    )
                if cat.hotkey.lower() in hotkeys:
                    raise InvalidInput(
                        f"Invalid interface: hotkey {cat.hotkey!r} is used twice in {where}."
                    )
                hotkeys.add(cat.hotkey.lower())
    return interface


def _from_original_shape(data: dict[str, Any]) -> dict[str, Any]:
    jobs = []
    for name, job in data["jobs"].items():
        if not isinstance(job, dict):
            raise InvalidInput(f"Invalid interface: job {name!r} must be an object.")
        content = job.get("content") or {}
        cats = content.get("categories") or {}
        if not isinstance(cats, dict):
            raise InvalidInput(f"Invalid interface: categories of job {name!r} must be an object keyed by category.")
        input_kind = content.get("input", "radio")
        for key, c in cats.items():
            if c is not None and not isinstance(c, dict):
                raise InvalidInput(
                    f"Invalid interface: category {key!r} of job {name!r} must be an object like "
                    '{"name": "Display name", "description": "What it means"}.'
                )
        jobs.append(
            {
                "name": name,
                "task": job.get("mlTask", "CLASSIFICATION"),
                "input": "multi" if input_kind in ("checkbox", "multi") else "single",
                "instruction": job.get("instruction", ""),
                "required": bool(job.get("required", 1)),
                "categories": [
                    {
                        "key": key,
                        "name": (c or {}).get("name", key),
                        "description": (c or {}).get("description") or "",
                    }
                    for key, c in cats.items()
                ],
            }
        )
    return {"jobs": jobs}


def to_original_shape(interface: Interface) -> dict[str, Any]:
    """The original workflow's ``jsonInterface`` shape (jobs → content → categories)."""
    return {
        "jobs": {
            job.name: {
                "mlTask": job.task,
                "instruction": job.instruction,
                "required": int(job.required),
                "isChild": False,
                "content": {
                    "input": "radio" if job.input == "single" else "checkbox",
                    "categories": {
                        c.key: {"name": c.name, "description": c.description, "children": []}
                        for c in job.categories
                    },
                },
            }
            for job in interface.jobs
        }
    }


def _categories_of(job_name: str, value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("categories"), list):
        raise InvalidInput(
            f"Invalid {what}: job {job_name!r} must be an object with a 'categories' list, "
            'e.g. {"categories": [{"name": "KEY"}]}.'
        )
    cats = value["categories"]
    for c in cats:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise InvalidInput(f"Invalid {what}: each category of job {job_name!r} needs a string 'name'.")
    return cats


def validate_label_response(interface: Interface, response: Any) -> dict[str, Any]:
    """Check a label's json_response against the interface; return it normalised (names only, no duplicates)."""
    check_storable(response, "Invalid label: json_response")
    if not isinstance(response, dict):
        raise InvalidInput("Invalid label: json_response must be an object keyed by job name.")
    out: dict[str, Any] = {}
    for job_name, value in response.items():
        job = interface.job(job_name) if job_name in {j.name for j in interface.jobs} else None
        if job is None:
            raise InvalidInput(
                f"Invalid label: unknown job {job_name!r}; this project's jobs are {[j.name for j in interface.jobs]}."
            )
        cats = _categories_of(job_name, value, "label")
        keys = job.category_keys()
        names: list[str] = []
        for c in cats:
            if c["name"] not in keys:
                raise InvalidInput(
                    f"Invalid label: unknown category {c['name']!r} for job {job_name!r}; expected one of {keys}."
                )
            if c["name"] not in names:
                names.append(c["name"])
        if job.input == "single" and len(names) > 1:
            raise InvalidInput(
                f"Invalid label: job {job_name!r} is single-choice but got {len(names)} categories {names}."
            )
        if job.required and not names:
            raise InvalidInput(f"Invalid label: job {job_name!r} is required; choose at least one category.")
        out[job_name] = {"categories": [{"name": n} for n in names]}
    for job in interface.jobs:
        if job.required and job.name not in out:
            raise InvalidInput(f"Invalid label: required job {job.name!r} has no answer.")
    return out


def validate_prediction_response(interface: Interface, response: Any) -> dict[str, Any]:
    """Check a prediction's json_response; fill probability from confidence (or the reverse) per category."""
    check_storable(response, "Invalid prediction: json_response")
    if not isinstance(response, dict) or not response:
        raise InvalidInput("Invalid prediction: json_response must be a non-empty object keyed by job name.")
    out: dict[str, Any] = {}
    job_names = [j.name for j in interface.jobs]
    for job_name, value in response.items():
        if job_name not in job_names:
            raise InvalidInput(f"Invalid prediction: unknown job {job_name!r}; this project's jobs are {job_names}.")
        job = interface.job(job_name)
        keys = job.category_keys()
        cats = _categories_of(job_name, value, "prediction")
        norm_cats = []
        for c in cats:
            if c["name"] not in keys:
                raise InvalidInput(
                    f"Invalid prediction: unknown category {c['name']!r} for job {job_name!r}; expected one of {keys}."
                )
            conf = c.get("confidence")
            prob = c.get("probability")
            if conf is not None and (not isinstance(conf, int | float) or isinstance(conf, bool)
                                     or not 0 <= conf <= 100):
                raise InvalidInput(
                    f"Invalid prediction: confidence of {c['name']!r} in job {job_name!r} must be a number from "
                    f"0 to 100; got {conf!r}."
                )
            if prob is not None and (not isinstance(prob, int | float) or isinstance(prob, bool)
                                     or not 0 <= prob <= 1):
                raise InvalidInput(
                    f"Invalid prediction: probability of {c['name']!r} in job {job_name!r} must be a number from "
                    f"0 to 1; got {prob!r}."
                )
            if prob is None and conf is not None:
                prob = conf / 100.0
            if conf is None and prob is not None:
                conf = round(prob * 100)
            if conf is None:
                raise InvalidInput(
                    f"Invalid prediction: category {c['name']!r} of job {job_name!r} needs a confidence (0-100) "
                    "or a probability (0-1)."
                )
            norm_cats.append({"name": c["name"], "confidence": conf, "probability": float(prob)})  # type: ignore[arg-type]
        if job.input == "single" and len(norm_cats) > 1:
            raise InvalidInput(
                f"Invalid prediction: job {job_name!r} is single-choice but got {len(norm_cats)} categories."
            )
        entry: dict[str, Any] = {"categories": norm_cats}
        probs = value.get("probabilities") if isinstance(value, dict) else None
        if probs is not None:
            if not isinstance(probs, dict):
                raise InvalidInput(f"Invalid prediction: probabilities of job {job_name!r} must be an object.")
            for k, p in probs.items():
                if k not in keys:
                    raise InvalidInput(
                        f"Invalid prediction: unknown category {k!r} in probabilities of job {job_name!r}."
                    )
                if not isinstance(p, int | float) or isinstance(p, bool) or not 0 <= p <= 1:
                    raise InvalidInput(
                        f"Invalid prediction: probability of {k!r} in job {job_name!r} must be from 0 to 1; got {p!r}."
                    )
            entry["probabilities"] = {k: float(v) for k, v in probs.items()}
        thresholds = value.get("thresholds") if isinstance(value, dict) else None
        if thresholds is not None:
            if not isinstance(thresholds, dict):
                raise InvalidInput(
                    f"Invalid prediction: thresholds of job {job_name!r} must be an object of category to 0-1."
                )
            for k, th in thresholds.items():
                if k not in keys:
                    raise InvalidInput(f"Invalid prediction: unknown category {k!r} in thresholds of job {job_name!r}.")
                if not isinstance(th, int | float) or isinstance(th, bool) or not 0 < th < 1:
                    raise InvalidInput(
                        f"Invalid prediction: threshold of {k!r} in job {job_name!r} must be between 0 and 1; "
                        f"got {th!r}."
                    )
            entry["thresholds"] = {k: float(v) for k, v in thresholds.items()}
        out[job_name] = entry
    return out


def response_category_names(response: dict[str, Any] | None, job_name: str) -> list[str]:
    """The category keys chosen for one job in a label or prediction response (empty when absent)."""
    if not response or job_name not in response:
        return []
    return [c["name"] for c in response[job_name].get("categories", [])]
