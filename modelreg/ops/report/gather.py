"""What the report shows, read through the registry's own questions (list, versions, aliases, the
audit log, verify) and shaped for the templates.

Everything here is bounded by what one model holds: a model is read, rendered and dropped before
the next, and the audit log is read once, keeping per model only the newest entries a page shows.
Audit entries are shown as they are: an action this code does not know is still listed, with
every field it carries.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import ModelregError
from modelreg.records.audit import ENTRY_FIELDS, public_entry
from modelreg.repo import Repo

from .links import commit_url, safe_url

PAGE_SIZE = 100  # versions per page of a model
TIMELINE_KEEP = 100  # newest stage changes on a model's page
MODEL_RECENT = 20  # newest audit entries on a model's page
SITE_RECENT = 20  # newest audit entries on the overview
MAX_TEXT = 2000  # characters of one free-text value (a description, a reason)
HOLDERS_SHOWN = 5  # versions named per stage on the overview; the model's page names them all
METRIC_COLUMNS = 6  # metrics shown as their own columns; more go into one cell
MAX_FINDINGS = 200


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Any JSON value as display text, cut at ``limit`` characters with a note saying so."""
    if value is None:
        return ""
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(shown) > limit:
        return f"{shown[:limit]}… ({len(shown) - limit} more characters)"
    return shown


def number(value: Any) -> str:
    """A metric exactly as stored: the shortest text that reads back as the same number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return text(value)
    return str(value) if isinstance(value, int) else repr(value)


# -- the audit log ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    time: str
    actor: str
    action: str
    model: str
    version: str
    from_stage: str
    to_stage: str
    reason: str
    extras: tuple[tuple[str, str], ...]


def entry(raw: dict[str, Any]) -> Entry:
    shown = public_entry(raw)
    extras = tuple((k, text(v, 200)) for k, v in shown.items() if k not in ENTRY_FIELDS and k != "id" and v is not None)
    return Entry(
        time=text(shown.get("time"), 64),
        actor=text(shown.get("actor"), 200),
        action=text(shown.get("action"), 64),
        model=text(shown.get("model"), 200),
        version=text(shown.get("version"), 32),
        from_stage=text(shown.get("from_stage"), 200),
        to_stage=text(shown.get("to_stage"), 200),
        reason=text(shown.get("reason")),
        extras=extras,
    )


@dataclass
class ModelLog:
    """What the log says about one model: its newest entries and stage changes."""

    last: dict[str, Any] | None = None
    total: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MODEL_RECENT))
    changes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TIMELINE_KEEP))
    changes_total: int = 0
    deploys: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TIMELINE_KEEP))
    deploys_total: int = 0


@dataclass
class AuditDigest:
    models: dict[str, ModelLog] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=SITE_RECENT))
    total: int = 0
    newest_time: str = ""


# Actions that move a version between stages. Others may name stages too (a request or an
# approval names the stage asked for) without moving anything, and an action this code does not
# know cannot be assumed to: those are listed with the audit entries, not in the timeline.
STAGE_ACTIONS = frozenset({"register", "promote", "archive", "rollback", "remove"})
DEPLOY_ACTIONS = frozenset({"deploy", "undeploy"})


def is_stage_change(raw: dict[str, Any], default_stage: str) -> bool:
    before, after = raw.get("from_stage"), raw.get("to_stage")
    if raw.get("action") not in STAGE_ACTIONS or before == after:
        return False
    # A version registered into the default stage is every version's start, not news.
    return not (raw.get("action") == "register" and after == default_stage)


def read_audit(reg: Repo) -> AuditDigest:
    """One pass over the log, in file order (the order a union merge of branches leaves)."""
    digest = AuditDigest()
    default = reg.config.default_stage
    for raw in reg.audit.entries():
        digest.total += 1
        digest.recent.append(raw)
        when = raw.get("time")
        if isinstance(when, str) and when > digest.newest_time:
            digest.newest_time = when
        model = raw.get("model")
        if not isinstance(model, str):
            continue
        log = digest.models.get(model)
        if log is None:
            log = digest.models[model] = ModelLog()
        log.last = raw
        log.total += 1
        log.recent.append(raw)
        if is_stage_change(raw, default):
            log.changes.append(raw)
            log.changes_total += 1
        if raw.get("action") in DEPLOY_ACTIONS:
            log.deploys.append(raw)
            log.deploys_total += 1
    return digest


def newest_first(raws: deque[dict[str, Any]]) -> list[Entry]:
    return [entry(r) for r in reversed(raws)]


# -- versions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    number: int
    page: int
    stage: str  # "" when removed
    removed: str  # why, when the version was removed; "" otherwise
    aliases: tuple[str, ...]
    created_at: str
    created_by: str
    digest: str
    size: int
    metrics: dict[str, str]
    values: dict[str, float]
    params: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    description: str
    commit: str
    commit_url: str | None
    branch: str
    dirty: bool | None
    ci: str
    ci_url: str | None
    datasets: tuple[str, ...]
    error: str = ""  # a manifest that could not be read


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((text(k, 200), text(v)) for k, v in sorted(value.items()))


def _removed(data: dict[str, Any]) -> str:
    removal = data.get("removed")
    if not removal:
        return ""
    if isinstance(removal, dict):
        parts = [text(removal.get(k), 200) for k in ("reason", "by", "actor", "at", "time") if removal.get(k)]
        return " · ".join(parts) or "removed"
    return text(removal, 200)


def version_row(data: dict[str, Any], page: int, remote: str | None) -> VersionRow:
    """A version object (``Version.to_json()``) as one row; unknown or odd fields degrade to text."""
    lineage = _mapping(data.get("lineage"))
    git, ci = _mapping(lineage.get("git")), _mapping(lineage.get("ci"))
    commit = git.get("commit") if isinstance(git.get("commit"), str) else ""
    datasets = _sequence(lineage.get("datasets"))
    metrics = _mapping(data.get("metrics"))
    aliases = _sequence(data.get("aliases"))
    removed = _removed(data)
    ci_label = " ".join(text(ci.get(k), 100) for k in ("provider", "run_id") if ci.get(k))
    dirty = git.get("dirty")
    return VersionRow(
        number=int(data["version"]),
        page=page,
        stage="" if removed else text(data.get("stage"), 200),
        removed=removed,
        aliases=tuple(sorted(text(a, 200) for a in aliases)),
        created_at=text(data.get("created_at"), 64),
        created_by=text(data.get("created_by"), 200),
        digest=text(data.get("digest"), 80),
        size=data["size"] if isinstance(data.get("size"), int) else 0,
        metrics={k: number(v) for k, v in sorted(metrics.items())},
        values={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        params=pairs(data.get("params")),
        tags=pairs(data.get("tags")),
        description=text(data.get("description")),
        commit=text(commit, 64),
        commit_url=commit_url(remote, commit),
        branch=text(git.get("branch"), 200),
        dirty=dirty if isinstance(dirty, bool) else None,
        ci=ci_label or ("CI run" if ci else ""),
        ci_url=safe_url(ci.get("url")),
        datasets=tuple(text(d, 500) for d in datasets),
    )


def broken_row(number: int, page: int, message: str) -> VersionRow:
    return VersionRow(
        number, page, "", "", (), "", "", "", 0, {}, {}, (), (), "", "", None, "", None, "", None, (), message
    )


def page_of(position: int) -> int:
    """The page (1-based) of the version at ``position`` in newest-first order."""
    return position // PAGE_SIZE + 1


def read_versions(reg: Repo, name: str, remote: str | None) -> list[VersionRow]:
    """Every version of ``name``, newest first; one whose manifest cannot be read becomes a row
    that says so (verify names the problem too)."""
    from modelreg.ops.queries.listing import list_versions

    try:
        found = {v.version: v.to_json() for v in list_versions(reg, name)}
    except ModelregError:
        found = {}
        state = reg.state(name)
        for n in state.numbers():
            try:
                found[n] = reg.load_version(state, n, cached=False).to_json()
            except ModelregError as exc:
                found[n] = {"error": exc.message.removeprefix(f"{reg.root}/")}
    numbers = sorted(found, reverse=True)
    rows = []
    for position, n in enumerate(numbers):
        data = found[n]
        if "error" in data and "version" not in data:
            rows.append(broken_row(n, page_of(position), text(data["error"], 500)))
        else:
            rows.append(version_row(data, page_of(position), remote))
    return rows


# -- deployments and production readings ----------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    env: str
    model: str
    version: int
    since: str
    by: str


def environments(reg: Repo) -> list[tuple[str, list[Deployed]]]:
    """Every environment with what it runs now (models by name)."""
    from modelreg.ops.deployments.deployed import deployed

    by_env: dict[str, list[Deployed]] = {}
    try:
        rows = deployed(reg).deployments
    except ModelregError:
        return []  # a damaged deployment file: verify (on the overview) names it
    for r in rows:
        by_env.setdefault(r.env, []).append(Deployed(r.env, r.model, r.version, text(r.since, 64), text(r.by, 200)))
    return sorted(by_env.items())


def observed_series(reg: Repo, name: str) -> dict[str, list[tuple[str, int, float, str]]]:
    """metric -> its production readings (time, version, value, env) by measurement time."""
    from modelreg.ops.deployments.observe import observed

    series: dict[str, list[tuple[str, int, float, str]]] = {}
    for obs in observed(reg, name):
        for metric, value in obs.metrics.items():
            series.setdefault(metric, []).append((obs.at, obs.version, float(value), obs.env or ""))
    for readings in series.values():
        readings.sort(key=lambda r: (r[0], r[1]))
    return dict(sorted(series.items()))
