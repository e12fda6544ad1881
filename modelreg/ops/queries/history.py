"""Querying the audit log: by model or version, by time and by action."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from modelreg.errors import UsageError
from modelreg.ops.queries.resolve import resolve
from modelreg.records.audit import public_entry
from modelreg.records.refs import parse_ref
from modelreg.repo import Repo

_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
ACTIONS = (
    "init",
    "register",
    "promote",
    "archive",
    "annotate",
    "alias",
    "request",
    "approve",
    "reject",
    "remove",
    "deploy",
    "undeploy",
    "observe",
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``7d``, ``12h``, ``30m`` or an ISO date/time; returns an RFC 3339 UTC bound for comparison."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        try:
            moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            return "0001-01-01T00:00:00.000000Z"  # further back than any entry
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--since {text!r}: give a duration like 7d, 12h, 30m or a date like 2026-01-31[T12:00:00Z]",
                code="invalid_input",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError:
        return "0001-01-01T00:00:00.000000Z"


def query(
    repo: Repo, target: str | None = None, *, since: str | None = None, actions: list[str] | None = None
) -> list[dict[str, Any]]:
    """Matching entries in log order (oldest first), without the chain fields."""
    return list(stream(repo, target, since=since, actions=actions))


def stream(
    repo: Repo,
    target: str | None = None,
    *,
    since: str | None = None,
    actions: list[str] | None = None,
    newest_first: bool = False,
) -> Iterator[dict[str, Any]]:
    """Matching entries one at a time, without the chain fields: the log is read as they are
    taken (from its end with ``newest_first``), so what is held is one entry, not the log. The
    arguments are checked before this returns."""
    name = version = None
    if target is not None:
        ref = parse_ref(target)
        name = ref.name
        repo.state(name)  # unknown model: not found rather than an empty log
        if ref.explicit:
            version = resolve(repo, ref).version
    bound = parse_since(since) if since else None
    wanted = set(actions or [])
    unknown = wanted - set(ACTIONS)
    if unknown:
        raise UsageError(f"unknown action {sorted(unknown)[0]!r}; actions: {', '.join(ACTIONS)}", code="invalid_input")
    source: Iterable[dict[str, Any]]
    if name is not None:  # one model's lines, found by the history view: what that history costs
        found = repo.history_view.entries(name)
        source = reversed(found) if newest_first else found
    else:
        source = repo.audit.entries_newest_first() if newest_first else repo.audit.entries()
    return _matching(source, name, version, bound, wanted)


def _matching(
    source: Iterable[dict[str, Any]], name: str | None, version: int | None, bound: str | None, wanted: set[str]
) -> Iterator[dict[str, Any]]:
    for entry in source:
        if name is not None and entry.get("model") != name:
            continue
        if version is not None and entry.get("version") != version:
            continue
        if bound is not None and str(entry.get("time", "")) < bound:
            continue
        if wanted and entry.get("action") not in wanted:
            continue
        yield public_entry(entry)


def last_change(repo: Repo, name: str, version: int | None = None) -> str | None:
    """When the model (or one of its versions) last changed: the time of its newest audit entry."""
    repo.state(name)  # unknown model: not found
    entry = repo.history_view.newest(name, lambda e: version is None or e.get("version") == version)
    return None if entry is None else str(entry.get("time") or "") or None


def history(repo: Repo, name: str, version: int | None = None) -> list[dict[str, Any]]:
    """Audit entries of a model (or one version), oldest first."""
    return [public_entry(e) for e in repo.history_view.entries(name) if version is None or e.get("version") == version]
