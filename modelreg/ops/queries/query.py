"""``list NAME --where EXPR --sort KEY --limit N``: choosing versions by what they hold.

An expression is ``KEY OP VALUE`` with OP one of ``= != < <= > >=``. KEY is ``metrics.NAME``,
``params.NAME``, ``tags.NAME``, ``observed.NAME`` (the latest production reading, see
``observe``), ``stage``, ``alias``, ``version``, ``created_at`` or ``created_by``. Numbers
compare as numbers (when both sides are numbers), words as text, and a number is never less or
greater than a word; a version without the key does not match a comparison on it (``!=`` included). ``alias=X`` holds
when X is one of the version's aliases.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelreg.errors import UsageError
from modelreg.records.manifest import Version

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_KEY_RE = re.compile(
    r"(metrics|params|tags|observed)\.[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}|stage|alias|version|created_at|created_by"
)
_NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
KEYS_HELP = "metrics.NAME, params.NAME, tags.NAME, observed.NAME, stage, alias, version, created_at or created_by"
# version -> metric -> its latest production reading
Observed = dict[int, dict[str, int | float]]
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"

    def holds(self, version: Version, observed: Observed | None = None) -> bool:
        if self.key == "alias":
            inside = self.value in version.aliases
            return inside if self.op in ("=", "==") else (not inside if self.op == "!=" else False)
        found = value_of(version, self.key, observed)
        if found is _MISSING:
            return False
        compare = _OPS[self.op]
        left, right = _as_number(found), _as_number(self.value)
        if left is not None and right is not None:
            return bool(compare(left, right))
        if (left is None) != (right is None) and self.op not in ("=", "==", "!="):
            return False  # a number and a word are not ordered
        return bool(compare(str(found), self.value))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and len(value) <= 400 and _NUMBER_RE.fullmatch(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _check_key(key: str, what: str) -> str:
    if not _KEY_RE.fullmatch(key):
        raise UsageError(f"{what}: unknown key {key!r}; use {KEYS_HELP}", code="invalid_query")
    return key


def parse_condition(text: str) -> Condition:
    """``metrics.auc>=0.9`` and the like; UsageError (exit 2) for anything else."""
    found = re.search(r"[!=<>]", text)
    if found is None:
        raise UsageError(
            f"--where {text!r}: give KEY OP VALUE with OP one of = != < <= > >= (e.g. metrics.auc>=0.9)",
            code="invalid_query",
        )
    start = found.start()
    op = next((o for o in _OPS if text.startswith(o, start)), None)
    if op is None:
        raise UsageError(f"--where {text!r}: {text[start : start + 2]!r} is not an operator", code="invalid_query")
    key, value = text[:start].strip(), text[start + len(op) :].strip()
    _check_key(key, f"--where {text!r}")
    if not value:
        raise UsageError(f"--where {text!r}: the value after {op!r} is missing", code="invalid_query")
    if key == "alias" and op not in ("=", "==", "!="):
        raise UsageError(f"--where {text!r}: an alias is matched with = or !=", code="invalid_query")
    return Condition(key, op, value)


def value_of(version: Version, key: str, observed: Observed | None = None) -> Any:
    group, _, name = key.partition(".")
    if group == "observed":
        return (observed or {}).get(version.version, {}).get(name, _MISSING)
    if group == "metrics":
        return version.metrics.get(name, _MISSING)
    if group == "params":
        return version.params.get(name, _MISSING)
    if group == "tags":
        return version.tags.get(name, _MISSING)
    if key == "stage":
        return version.stage
    if key == "version":
        return version.version
    if key == "created_at":
        return version.created_at
    if key == "created_by":
        return version.created_by
    return _MISSING


def parse_sort(text: str) -> tuple[str, bool]:
    """``KEY`` ascending or ``-KEY`` descending."""
    descending = text.startswith("-")
    key = _check_key(text.removeprefix("-").strip(), f"--sort {text!r}")
    if key == "alias":
        raise UsageError("--sort: versions cannot be sorted by alias", code="invalid_query")
    return key, descending


def select(
    versions: list[Version],
    where: list[str] | None = None,
    sort: str | None = None,
    limit: int | None = None,
    observed: Observed | None = None,
) -> list[Version]:
    conditions = [parse_condition(text) for text in where or []]
    chosen = [v for v in versions if all(c.holds(v, observed) for c in conditions)]
    if sort is not None:
        key, descending = parse_sort(sort)
        present = [v for v in chosen if value_of(v, key, observed) is not _MISSING]
        absent = [v for v in chosen if value_of(v, key, observed) is _MISSING]
        present.sort(key=lambda v: _sort_key(value_of(v, key, observed)), reverse=descending)
        chosen = present + absent  # versions without the key come last either way
    if limit is not None:
        if limit < 1:
            raise UsageError("--limit must be at least 1", code="invalid_query")
        chosen = chosen[:limit]
    return chosen


def _sort_key(value: Any) -> tuple[int, float, str]:
    number = _as_number(value)
    return (0, number, "") if number is not None else (1, 0.0, str(value))
