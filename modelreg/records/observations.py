"""Observations: what was measured of a version in production, read from its ``observe`` entries.

An observation is an audit entry, not a file: the log is append-only and git merges it as a
union, so observations recorded on two branches (or two serving hosts' clones) always merge, and
each carries who recorded it and when. An entry holds ``metrics`` (name -> number), the
``observed_at`` moment the measurement is about (``--at``, else when it was recorded) and
optionally the ``env`` it was measured in. Entries may come from anyone, so each is checked
here and an ill-formed one is skipped (``verify`` checks the chain they are part of).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .names import is_valid_key, is_valid_name


@dataclass(frozen=True)
class Observation:
    version: int
    at: str  # when the measurement was taken (RFC 3339 UTC)
    env: str | None
    metrics: dict[str, int | float]
    by: str


@dataclass(frozen=True)
class Reading:
    value: int | float
    at: str
    env: str | None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "at": self.at, "env": self.env}


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def parse_entry(entry: dict[str, Any]) -> Observation | None:
    """The observation an audit entry records, or None (another action, or ill-formed)."""
    if entry.get("action") != "observe":
        return None
    version, at, env, metrics = entry.get("version"), entry.get("observed_at"), entry.get("env"), entry.get("metrics")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1 or not isinstance(at, str):
        return None
    if env is not None and (not isinstance(env, str) or not is_valid_name(env)):
        return None
    if not isinstance(metrics, dict) or not metrics:
        return None
    if not all(isinstance(k, str) and is_valid_key(k) for k in metrics):
        return None
    if not all(_number(v) for v in metrics.values()):
        return None
    return Observation(version, at, env, dict(metrics), str(entry.get("actor", "")))


def observations(entries: Iterable[dict[str, Any]]) -> list[Observation]:
    """A model's observations in log order."""
    return [o for o in (parse_entry(e) for e in entries) if o is not None]


def latest(found: Iterable[Observation]) -> dict[int, dict[str, Reading]]:
    """version -> metric -> its latest reading by measurement time (the later entry on a tie)."""
    result: dict[int, dict[str, Reading]] = {}
    for obs in found:
        readings = result.setdefault(obs.version, {})
        for metric, value in obs.metrics.items():
            held = readings.get(metric)
            if held is None or obs.at >= held.at:
                readings[metric] = Reading(value, obs.at, obs.env)
    return {v: dict(sorted(r.items())) for v, r in result.items()}
