"""Label Studio labeling configs and the conversions between Label Studio JSON and prelabel's. Pure: no database.

A labeling config is supported when its ``<Choices>`` tags (one prelabel job each) all label the same
``<Text value="$key">``: the task's ``data[key]`` is the asset's text. Each Choices becomes a job named after
its ``name`` (Label Studio's ``from_name``), single-choice unless ``choice="multiple"``, required only with
``required="true"`` (Label Studio's default is optional); each ``<Choice>`` becomes a category whose display
name is its ``value`` and whose key is the value Label Studio stores in results (its ``alias``, else its
``value``) when that is a valid prelabel key, else a slug of it. A ``<Header>`` just before a Choices becomes
the job's question and a Choice's ``hint`` its description: zero-shot suggestions read both. Other control tags
(TextArea, Rating, …) are ignored; their results are skipped.

The mapping is computed from the config alone, so the same config always gives the same keys, in both
directions. A prelabel project that did not come from Label Studio gets a config generated from its interface
(`label_config_for`): each category is ``<Choice value="{name}" alias="{key}"/>``, so results carry the key.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from prelabel.domain import MAX_DESCRIPTION_CHARS, MAX_INSTRUCTION_CHARS, Interface, parse_interface
from prelabel.errors import InvalidInput

MAX_CONFIG_CHARS = 200_000
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-.]{0,99}$")
_MODEL_PREFIX = "prelabel-"


@dataclass(frozen=True)
class LSChoice:
    value: str  # what Label Studio stores in a result (the alias, else the value)
    key: str  # the prelabel category key
    name: str  # the display name (the Choice's value)
    description: str = ""  # the Choice's hint
    hotkey: str | None = None


@dataclass(frozen=True)
class LSJob:
    from_name: str
    to_name: str
    job: str  # the prelabel job name
    multi: bool
    required: bool
    instruction: str
    choices: tuple[LSChoice, ...]

    def key_of(self, value: Any) -> str:
        # what Label Studio stores first; then, for files from a Label Studio project whose config differs in its
        # aliases (a hand-made one, say), the category's key and its display name
        for attr in ("value", "key", "name"):
            for c in self.choices:
                if getattr(c, attr) == value:
                    return c.key
        raise InvalidInput(
            f"Label Studio choice {value!r} is not one of {self.from_name!r}'s choices "
            f"{[c.value for c in self.choices]}; update the prelabel project or the labeling config."
        )

    def value_of(self, key: str) -> str | None:
        return next((c.value for c in self.choices if c.key == key), None)


@dataclass(frozen=True)
class LSSchema:
    text_key: str  # the task data field holding the text
    jobs: tuple[LSJob, ...]

    def interface(self) -> Interface:
        return parse_interface(
            {
                "jobs": [
                    {
                        "name": j.job,
                        "input": "multi" if j.multi else "single",
                        "required": j.required,
                        "instruction": j.instruction,
                        "categories": [
                            {"key": c.key, "name": c.name, "description": c.description, "hotkey": c.hotkey}
                            for c in j.choices
                        ],
                    }
                    for j in self.jobs
                ]
            }
        )


# --- parsing ------------------------------------------------------------------------------------------------
def _slug(text: str, taken: set[str]) -> str:
    """A valid prelabel key for `text`, unique among `taken` (which it joins)."""
    if _KEY_RE.match(text) and text not in taken:
        taken.add(text)
        return text
    base = re.sub(r"[^A-Za-z0-9_\-.]+", "_", text).strip("_")[:90] or "c"
    if not re.match(r"[A-Za-z0-9_]", base[0]):
        base = "_" + base
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    taken.add(key)
    return key


def _root(config: str) -> ET.Element:
    if not isinstance(config, str) or not config.strip():
        raise InvalidInput("The Label Studio labeling config is empty.")
    if len(config) > MAX_CONFIG_CHARS:
        raise InvalidInput(f"The Label Studio labeling config is longer than {MAX_CONFIG_CHARS:,} characters.")
    if "<!DOCTYPE" in config or "<!ENTITY" in config:
        raise InvalidInput("A Label Studio labeling config may not declare a DOCTYPE or entities.")
    try:
        return ET.fromstring(config)
    except ET.ParseError as exc:
        raise InvalidInput(f"The Label Studio labeling config is not valid XML: {exc}.") from None


def _texts(root: ET.Element) -> dict[str, str]:
    """Text tag name → the task data key it shows (its ``value="$key"``)."""
    out = {}
    for el in root.iter("Text"):
        name, value = el.get("name"), el.get("value") or ""
        if name and value.startswith("$") and len(value) > 1:
            out[name] = value[1:]
    return out


def _instructions(root: ET.Element) -> dict[int, str]:
    """id(Choices element) → the value of the Header element right before it."""
    out: dict[int, str] = {}
    for parent in root.iter():
        header = ""
        for child in parent:
            if child.tag == "Header":
                header = (child.get("value") or child.text or "").strip()
            else:  # only a Header right before a Choices is its question
                if child.tag == "Choices":
                    out[id(child)] = header[:MAX_INSTRUCTION_CHARS]
                header = ""
    return out


def _job(el: ET.Element, texts: dict[str, str], instruction: str, taken_jobs: set[str]) -> tuple[LSJob, str]:
    from_name = el.get("name") or ""
    to_name = (el.get("toName") or "").split(",")[0].strip()
    if not from_name:
        raise InvalidInput("A <Choices> tag of the labeling config has no name.")
    if to_name not in texts:
        raise InvalidInput(
            f"<Choices name={from_name!r}> labels {to_name!r}, which is not a <Text value=\"$field\"> of the "
            "labeling config; prelabel classifies texts only."
        )
    taken: set[str] = set()
    hotkeys: set[str] = set()
    choices = []
    for c in el.iter("Choice"):
        value = c.get("value")
        if value is None:
            raise InvalidInput(f"A <Choice> of {from_name!r} has no value.")
        stored = c.get("alias") or value
        hint = (c.get("hint") or "").strip()[:MAX_DESCRIPTION_CHARS]
        hotkey = c.get("hotkey")  # a one-key shortcut carries over to prelabel's labeling page; others do not
        if hotkey is None or len(hotkey) != 1 or hotkey.isspace() or hotkey.lower() in hotkeys:
            hotkey = None
        else:
            hotkeys.add(hotkey.lower())
        choices.append(LSChoice(value=stored, key=_slug(stored, taken), name=value, description=hint, hotkey=hotkey))
    if len(choices) < 2:
        raise InvalidInput(f"<Choices name={from_name!r}> needs at least two <Choice> tags (dynamic choices are "
                           "not supported).")
    job = LSJob(
        from_name=from_name,
        to_name=to_name,
        job=_slug(from_name, taken_jobs),
        multi=el.get("choice", "single") == "multiple",
        required=(el.get("required") or "").lower() == "true",
        instruction=instruction,
        choices=tuple(choices),
    )
    return job, texts[to_name]


def parse_label_config(config: str) -> LSSchema:
    """The prelabel view of a Label Studio labeling config; InvalidInput says what is not supported."""
    root = _root(config)
    texts = _texts(root)
    headers = _instructions(root)
    jobs: list[LSJob] = []
    keys: set[str] = set()
    taken_jobs: set[str] = set()
    for el in root.iter("Choices"):
        job, key = _job(el, texts, headers.get(id(el), ""), taken_jobs)
        jobs.append(job)
        keys.add(key)
    if not jobs:
        raise InvalidInput("The labeling config has no <Choices> tag; prelabel serves text classification only.")
    if len(keys) > 1:
        raise InvalidInput(
            f"The labeling config's <Choices> label different texts {sorted(keys)}; prelabel needs them all on the "
            "same <Text>."
        )
    schema = LSSchema(text_key=keys.pop(), jobs=tuple(jobs))
    schema.interface()  # refuse here what prelabel could not store (InvalidInput names the job)
    return schema


def label_config_for(interface: Interface, text_key: str = "text") -> str:
    """A labeling config for a prelabel interface: paste it into a Label Studio project to import prelabel's
    Label Studio export, or to connect the project to this one."""
    lines = ["<View>", f"  <Text name={quoteattr(text_key)} value={quoteattr('$' + text_key)}/>"]
    for job in interface.jobs:
        if job.instruction:
            lines.append(f"  <Header value={quoteattr(job.instruction)}/>")
        choice = "multiple" if job.input == "multi" else "single"
        required = ' required="true"' if job.required else ""
        lines.append(
            f"  <Choices name={quoteattr(job.name)} toName={quoteattr(text_key)} choice=\"{choice}\"{required}>"
        )
        names = [c.name or c.key for c in job.categories]
        unique = len(set(names)) == len(names)
        for c, name in zip(job.categories, names, strict=True):
            hint = f" hint={quoteattr(c.description[:MAX_DESCRIPTION_CHARS])}" if c.description else ""
            hotkey = f" hotkey={quoteattr(c.hotkey)}" if c.hotkey else ""
            value = name if unique else c.key
            lines.append(f"    <Choice value={quoteattr(value)} alias={quoteattr(c.key)}{hint}{hotkey}/>")
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def schema_for(interface: Interface) -> LSSchema:
    return parse_label_config(label_config_for(interface))


# --- tasks --------------------------------------------------------------------------------------------------
def task_text(schema: LSSchema, task: dict[str, Any], where: str) -> str:
    data = task.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: a Label Studio task needs a 'data' object.")
    text = data.get(schema.text_key)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{where}: data.{schema.text_key} must be a non-empty text.")
    return text


def task_external_id(task: dict[str, Any], where: str) -> str | None:
    """The prelabel external id of a task: ``meta.external_id`` (prelabel's Label Studio export writes it),
    else ``ls-<task id>``; None for a task with neither (an import then derives one from the text)."""
    meta = task.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("external_id"), str | int) and str(meta["external_id"]):
        return str(meta["external_id"])
    tid = task.get("id")
    if isinstance(tid, int) and not isinstance(tid, bool):
        return f"ls-{tid}"
    if tid is not None:
        raise InvalidInput(f"{where}: the task id must be an integer; got {tid!r}.")
    return None


def text_id(text: str) -> str:
    """The id prelabel's file import gives a text without one (`prelabel.service.importing`)."""
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:16]


# --- results <-> responses ----------------------------------------------------------------------------------
def response_from_result(schema: LSSchema, result: Any, where: str) -> dict[str, Any] | None:
    """A prelabel json_response from a Label Studio annotation's ``result`` list; None when it chose nothing
    prelabel knows (an empty or skipped annotation)."""
    if not isinstance(result, list):
        raise InvalidInput(f"{where}: an annotation's result must be a list.")
    jobs = {j.from_name: j for j in schema.jobs}
    out: dict[str, Any] = {}
    for item in result:
        if not isinstance(item, dict) or item.get("type") != "choices":
            continue
        job = jobs.get(str(item.get("from_name")))
        choices = (item.get("value") or {}).get("choices") if isinstance(item.get("value"), dict) else None
        if job is None or not isinstance(choices, list):
            continue
        try:
            keys = [job.key_of(v) for v in choices]
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
        out.setdefault(job.job, {"categories": []})["categories"].extend({"name": k} for k in keys)
    return out or None


def result_from_response(schema: LSSchema, response: dict[str, Any]) -> list[dict[str, Any]]:
    """Label Studio result items for a prelabel label or prediction response (chosen categories only)."""
    items = []
    for job in schema.jobs:
        value = response.get(job.job)
        if not isinstance(value, dict):
            continue
        values = [v for c in value.get("categories", []) if (v := job.value_of(c.get("name", ""))) is not None]
        if values:
            items.append({"from_name": job.from_name, "to_name": job.to_name, "type": "choices",
                          "value": {"choices": values}})
    return items


def _job_score(job: LSJob, value: dict[str, Any]) -> float | None:
    """How sure the model is of the decision it shows for one job: the chosen category's probability
    (single choice), else the least sure of its per-category yes/no decisions (multiple choice)."""
    chosen = {c.get("name") for c in value.get("categories", []) if isinstance(c, dict)}
    probs = dict(value.get("probabilities") or {})
    for c in value.get("categories", []):
        if isinstance(c, dict) and isinstance(c.get("probability"), int | float):
            probs.setdefault(c["name"], c["probability"])
    if not probs:
        return None
    if not job.multi:
        return max((float(p) for k, p in probs.items() if k in chosen), default=max(map(float, probs.values())))
    return min(float(p) if k in chosen else 1.0 - float(p) for k, p in probs.items())


def prediction_for(schema: LSSchema, response: dict[str, Any], model_version: str) -> dict[str, Any]:
    """A Label Studio prediction (``result``, ``score``, ``model_version``) from a prelabel prediction: each
    result item and the whole prediction carry the model's calibrated probability of what it shows (for the
    whole prediction the least sure of its jobs, so that Label Studio's sort by score puts the doubtful first)."""
    result = result_from_response(schema, response)
    scores = {}
    for job in schema.jobs:
        value = response.get(job.job)
        score = _job_score(job, value) if isinstance(value, dict) else None
        if score is not None:
            scores[job.from_name] = round(score, 4)
    for item in result:
        if item["from_name"] in scores:
            item["score"] = scores[item["from_name"]]
    return {"result": result, "score": min(scores.values(), default=0.0), "model_version": model_version}


def ls_model_version(display_name: str) -> str:
    """Label Studio's name of a prelabel model version (``automl-7`` → ``prelabel-automl-7``)."""
    return _MODEL_PREFIX + display_name


def fits(current: Interface, schema: LSSchema) -> bool:
    """Whether every Label Studio answer is a valid label of `current` and every prediction can be shown."""
    jobs = {j.name: j for j in current.jobs}
    for lj in schema.jobs:
        job = jobs.pop(lj.job, None)
        if job is None or (job.input == "multi") != lj.multi or (job.required and not lj.required):
            return False
        if set(job.category_keys()) != {c.key for c in lj.choices}:
            return False
    return not any(j.required for j in jobs.values())


def newest_answer(schema: LSSchema, annotations: Any, where: str) -> dict[str, Any] | None:
    """The newest annotation of a task that chose something (skipped ones do not count)."""
    if not isinstance(annotations, list):
        return None
    anns = [a for a in annotations if isinstance(a, dict)]
    # newest first: by creation time, then by position (Label Studio lists a task's annotations oldest first)
    order = sorted(range(len(anns)), key=lambda i: (str(anns[i].get("created_at") or ""), i), reverse=True)
    for ann in (anns[i] for i in order):
        if not ann.get("was_cancelled"):
            response = response_from_result(schema, ann.get("result"), where)
            if response is not None:
                return response
    return None
