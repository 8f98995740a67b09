"""Checks of an estimator's constructor parameters, in the wording of scikit-learn's own messages.

scikit-learn's `_param_validation` is private API, so the engine keeps its own small version of it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One accepted form of a parameter: a test and how the error message names it."""

    accepts: Callable[[Any], bool]
    text: str


def number(kind: type, low: float | None = None, high: float | None = None, closed: str = "left") -> Rule:
    """An int (`Integral`) or a float (`Real`) in an interval; `closed` is "left", "right", "both" or "neither"."""

    def accepts(v: Any) -> bool:
        of_kind = isinstance(v, kind) and not isinstance(v, bool)
        if not of_kind:
            return False
        x = float(v)
        if math.isnan(x):
            return False
        above = low is None or (x >= low if closed in ("left", "both") else x > low)
        below = high is None or (x <= high if closed in ("right", "both") else x < high)
        return above and below

    left = "[" if closed in ("left", "both") else "("
    right = "]" if closed in ("right", "both") else ")"
    name = "an int" if kind is Integral else "a float"
    return Rule(accepts, f"{name} in the range {left}{_bound(low, '-inf')}, {_bound(high, 'inf')}{right}")


def _bound(v: float | None, infinite: str) -> str:
    return infinite if v is None else f"{v:g}"


def options(values: Iterable[str]) -> Rule:
    allowed = set(values)
    return Rule(lambda v: isinstance(v, str) and v in allowed, f"a str among {sorted(allowed)}")


def instance(*types: type) -> Rule:
    return Rule(lambda v: isinstance(v, types), " or ".join(f"an instance of '{t.__name__}'" for t in types))


NONE = Rule(lambda v: v is None, "None")
BOOLEAN = Rule(lambda v: isinstance(v, bool), "an instance of 'bool'")
PATH = instance(str, os.PathLike)


def validate(owner: str, params: Mapping[str, Any], rules: Mapping[str, list[Rule]]) -> None:
    """Raise ValueError naming the first parameter that matches none of its rules."""
    for name, accepted in rules.items():
        value = params[name]
        if not any(rule.accepts(value) for rule in accepted):
            forms = [rule.text for rule in accepted]
            wanted = forms[0] if len(forms) == 1 else ", ".join(forms[:-1]) + " or " + forms[-1]
            raise ValueError(f"The {name!r} parameter of {owner} must be {wanted}. Got {value!r} instead.")
