"""How each interface spells an option in an error message, so that the advice can be followed as written.

The service layer names options by their API names (``on_conflict``, ``id_column``); a message that tells a
person what to do asks its `Spelling` how to write that option: ``on_conflict=skip`` over the API and the SDK
(whose keyword arguments carry the same names), ``--on-conflict skip`` in the CLI, the form's own labels in the
browser UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The browser's import form (ui/templates/project.html): option → (field label, {value: choice label}).
_UI_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "on_conflict": ("Asset ID already in the project", {"skip": "Skip it", "update": "Update it", "error": "Refuse"}),
    "id_column": ("ID column", {}),
    "text_column": ("Text column", {}),
    "label_column": ("Label column", {}),
    "format": ("Format", {}),
}


@dataclass(frozen=True)
class Spelling:
    style: Literal["api", "cli", "ui"]

    def option(self, name: str, value: str | bool | None = None) -> str:
        """The option `name` (its API name) set to `value`, as this interface writes it. `True` is a flag."""
        if self.style == "cli" or (self.style == "ui" and name not in _UI_FIELDS):
            flag = "--" + name.replace("_", "-")
            text = flag if value is None or value is True else f"{flag} {value}"
            return text if self.style == "cli" else f"`prelabel import {text}` (the form has no such choice)"
        if self.style == "ui":
            label, choices = _UI_FIELDS[name]
            if value is None:
                return f"“{label}”"
            if not choices:
                return f"“{value}” in “{label}”"
            return f"“{choices.get(str(value), value)}” under “{label}”"
        if value is None:
            return name
        return f"{name}={'true' if value is True else value}"


API = Spelling("api")
CLI = Spelling("cli")
UI = Spelling("ui")
