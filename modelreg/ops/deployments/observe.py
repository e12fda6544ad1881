"""``observe``: what was measured of a version in production, as a time series apart from its
training metrics. Each observation is one audit entry (records/observations.py says why), made
under the model's lock like every change of the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import UsageError
from modelreg.ops.changes import check_text, record
from modelreg.records.journal import Change
from modelreg.records.names import parse_number, validate_key
from modelreg.records.observations import Observation, Reading, latest, observations
from modelreg.records.refs import Ref, parse_ref, parse_time
from modelreg.repo import Repo

from .deploy import check_env


@dataclass
class ObserveResult:
    model: str
    version: int
    env: str | None
    at: str
    metrics: dict[str, int | float]
    hooks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "env": self.env,
            "observed_at": self.at,
            "metrics": dict(self.metrics),
            "hooks": list(self.hooks),
        }


def observe(
    repo: Repo,
    ref: Ref | str,
    metrics: dict[str, str | int | float],
    *,
    env: str | None = None,
    at: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> ObserveResult:
    """Record ``metrics`` (name -> number) measured of the version ``ref`` names at ``at``
    (as inside ``@{...}``; default now), in ``env`` if given."""
    from modelreg.ops.capture.lineage import author, now_utc
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    if not metrics:
        raise UsageError("give at least one --metric NAME=NUMBER", code="invalid_metric")
    values = {
        validate_key(k, "metric"): v if isinstance(v, (int, float)) else parse_number(k, v) for k, v in metrics.items()
    }
    for key, value in values.items():
        if isinstance(value, bool) or (isinstance(value, float) and value != value) or abs(value) == float("inf"):
            raise UsageError(f"metric {key!r} must be a finite number", code="invalid_metric")
    if env is not None:
        check_env(env)
    if reason is not None:
        check_text(reason, "reason")
    moment = parse_time(at) if at is not None else now_utc()
    who = author(actor)
    with repo.model_lock(ref.name):
        state = repo.locked_state(ref.name)
        version = resolve_in(repo, state, ref)
        change = Change(ref.name)
        change.records.append(
            record(
                "observe",
                ref.name,
                version.version,
                actor=who,
                reason=reason,
                env=env,
                observed_at=moment,
                metrics=dict(sorted(values.items())),
            )
        )
        repo.commit(change)
    return ObserveResult(ref.name, version.version, env, moment, dict(sorted(values.items())))


def observed(repo: Repo, name: str) -> list[Observation]:
    """The model's observations in log order."""
    return observations(repo.history_view.entries(name))


def latest_observed(repo: Repo, name: str) -> dict[int, dict[str, Reading]]:
    """version -> metric -> its latest reading (by measurement time)."""
    return latest(observed(repo, name))
