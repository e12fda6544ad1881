"""The answers of the read commands (list, show, log, diff, requests, alias NAME) as results.

Each is what the command prints with --json (``to_json``) and what a Python caller gets from the
registry, so the two cannot drift apart. This module sits above ``queries`` and ``governance``
because a version's view shows its requests, which governance owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import UsageError
from modelreg.ops.queries.listing import ModelSummary
from modelreg.ops.teams.unused import UnusedClaim
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref, parse_ref_of
from modelreg.repo import Repo


@dataclass(frozen=True)
class ModelList(Reported):
    """``list``: every model (or those in ``stage`` / with ``tags``) with its latest version and stages."""

    models: tuple[ModelSummary, ...]

    def to_json(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models]}


@dataclass(frozen=True)
class VersionList(Reported):
    """``list NAME``: one model's versions, filtered, sorted and cut as asked."""

    name: str
    versions: tuple[Version, ...]
    allow: frozenset[str] = frozenset()  # the safety allowlist in force: each file judged as show does

    def to_json(self) -> dict[str, Any]:
        from modelreg.ops.proof.safety import version_json

        return {"versions": [version_json(self.allow, v) for v in self.versions]}


@dataclass(frozen=True)
class ModelView(Reported):
    """``show NAME``: the model and all its versions."""

    summary: ModelSummary
    versions: tuple[Version, ...]
    allow: frozenset[str] = frozenset()  # the safety allowlist in force: each file judged as show does
    unused: tuple[UnusedClaim, ...] = ()  # numbers claimed on a claim engine with no version here

    def to_json(self) -> dict[str, Any]:
        from modelreg.ops.proof.safety import version_json

        data = {**self.summary.to_json(), "versions": [version_json(self.allow, v) for v in self.versions]}
        if self.unused:
            data["unused_claims"] = [u.to_json() for u in self.unused]
        return data


@dataclass(frozen=True)
class VersionView(Reported):
    """``show NAME@REF``: one version in full, its audit history and the requests about it."""

    version: Version
    history: tuple[dict[str, Any], ...]
    requests: tuple[dict[str, Any], ...]  # as ``requests --json`` shows them
    document: dict[str, Any]  # the version as shown: each file with its format and safety
    observed: dict[str, dict[str, Any]]  # metric -> its latest production reading
    deployed: tuple[dict[str, Any], ...]  # the environments serving it: env, since, by

    def to_json(self) -> dict[str, Any]:
        return {
            **self.document,
            "history": list(self.history),
            "requests": list(self.requests),
            "observed": dict(self.observed),
            "deployed": list(self.deployed),
        }


@dataclass(frozen=True)
class LogResult(Reported):
    """``log``: audit entries without the chain fields, read from the log as they are taken, so
    what is held is one entry (or the ``limit`` newest), never the whole log. ``entries`` gives
    them in log order (oldest first), ``newest_first`` the other way; each call reads afresh."""

    _read: Callable[[bool], Iterator[dict[str, Any]]]

    @property
    def entries(self) -> Iterator[dict[str, Any]]:
        return self._read(False)

    @property
    def newest_first(self) -> Iterator[dict[str, Any]]:
        return self._read(True)

    def to_json(self) -> dict[str, Any]:
        return {"entries": list(self.entries)}


@dataclass(frozen=True)
class RequestList(Reported):
    """``requests``: requests oldest first, each with its approval count."""

    requests: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"requests": list(self.requests)}


@dataclass(frozen=True)
class AliasList(Reported):
    """``alias NAME``: a model's aliases, alias -> version."""

    name: str
    aliases: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": dict(self.aliases)}


@dataclass(frozen=True)
class DiffResult(Reported):
    """``diff A B``: what changed from ``a`` to ``b`` (files, metrics, params, tags, environment)."""

    a: Version
    b: Version
    changes: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.changes)


def listing(
    repo: Repo,
    name: str | None = None,
    *,
    stage: str | None = None,
    tags: dict[str, str] | None = None,
    where: list[str] | None = None,
    sort: str | None = None,
    limit: int | None = None,
) -> ModelList | VersionList:
    from modelreg.ops.queries.listing import list_models, list_versions

    if name is None:
        if where or sort or limit:
            raise UsageError("--where, --sort and --limit choose among one model's versions: give NAME")
        return ModelList(tuple(list_models(repo, stage=stage, tags=tags)))
    found = list_versions(repo, name, stage=stage, tags=tags, where=where, sort=sort, limit=limit)
    return VersionList(name, tuple(found), repo.config.safety_allow)


def show(repo: Repo, ref: Ref | str) -> ModelView | VersionView:
    from modelreg.ops.deployments.observe import latest_observed
    from modelreg.ops.governance.approvals import request_json, version_requests
    from modelreg.ops.proof.safety import version_json
    from modelreg.ops.queries.history import history
    from modelreg.ops.queries.listing import summary
    from modelreg.ops.queries.resolve import resolve

    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    if parsed.explicit:
        v = resolve(repo, parsed)
        requests = tuple(request_json(repo, r) for r in version_requests(repo, v.name, v.version))
        observed = {k: r.to_json() for k, r in latest_observed(repo, v.name).get(v.version, {}).items()}
        serving = repo.deployments(v.name)
        deployed = tuple(
            {"env": env, "since": d.since, "by": d.by}
            for env, d in sorted((serving.envs if serving else {}).items())
            if d.version == v.version
        )
        document = version_json(repo.config.safety_allow, v)
        return VersionView(v, tuple(history(repo, v.name, v.version)), requests, document, observed, deployed)
    about = summary(repo, parsed.name)
    from modelreg.ops.teams.unused import unused_claims

    unused = tuple(unused_claims(repo, parsed.name))
    return ModelView(about, tuple(repo.versions(parsed.name)), repo.config.safety_allow, unused)


def log(
    repo: Repo,
    target: str | None = None,
    *,
    since: str | None = None,
    actions: list[str] | None = None,
    limit: int | None = None,
) -> LogResult:
    """The arguments are checked here; the log is read when the entries are taken."""
    from modelreg.ops.queries.history import stream

    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, not {limit}")
    stream(repo, target, since=since, actions=actions)  # checks them, reading nothing yet

    def read(newest_first: bool) -> Iterator[dict[str, Any]]:
        if limit is None:
            return stream(repo, target, since=since, actions=actions, newest_first=newest_first)
        # the newest ``limit``, read from the end of the log
        newest = list(islice(stream(repo, target, since=since, actions=actions, newest_first=True), limit))
        return iter(newest if newest_first else newest[::-1])

    return LogResult(read)


def requests(repo: Repo, name: str | None = None, *, include_closed: bool = False) -> RequestList:
    from modelreg.ops.governance.approvals import list_requests, request_json

    found = list_requests(repo, name, include_closed=include_closed)
    return RequestList(tuple(request_json(repo, r) for r in found))


def alias_list(repo: Repo, name: str) -> AliasList:
    from modelreg.ops.lifecycle.alias import aliases

    return AliasList(name, aliases(repo, name))


def diff(repo: Repo, a: Ref | str, b: Ref | str) -> DiffResult:
    """``b`` may be a bare reference (a number, latest, a stage, a digest) of ``a``'s model."""
    from modelreg.ops.queries.diff import diff_versions
    from modelreg.ops.queries.resolve import resolve

    first = parse_ref(a) if isinstance(a, str) else a
    second = parse_ref_of(b, first.name, repo.config.stages) if isinstance(b, str) else b
    va, vb = resolve(repo, first), resolve(repo, second)
    return DiffResult(va, vb, diff_versions(va, vb))
