"""``alias``: names that point at one version each, set, moved and deleted with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError, NotFoundError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.records.aliases import AliasFile
from modelreg.records.journal import Change
from modelreg.records.names import validate_alias
from modelreg.records.refs import Ref, parse_ref
from modelreg.repo import Repo


@dataclass(frozen=True)
class AliasResult(Reported):
    name: str
    alias: str
    version: int | None  # None: deleted
    previous: int | None
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "changed": self.changed,
            **self.effects_json(),
        }


def set_alias(
    repo: Repo, ref: Ref | str, alias: str, *, reason: str | None = None, actor: str | None = None
) -> AliasResult:
    """Point ``alias`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
    from modelreg.ops.capture.lineage import author
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    validate_alias(alias, repo.config.stages)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    with repo.model_lock(ref.name):
        state = repo.locked_state(ref.name)
        found = resolve_in(repo, state, ref)
        if found.removed:  # issue 13: a removed version is named by no alias
            raise ConflictError(f"{ref.name}@{found.version} was removed; no alias may name it", code="removed")
        version = found.version
        previous = state.aliases.targets.get(alias)
        if previous == version:
            return AliasResult(ref.name, alias, version, previous, False)
        targets = {**state.aliases.targets, alias: version}
        entries = _commit(repo, ref.name, targets, alias, version, previous, reason, who)
    hooks.after(repo, entries)  # issue 13: once the lock is released
    return AliasResult(ref.name, alias, version, previous, True)


def delete_alias(
    repo: Repo, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
) -> AliasResult:
    from modelreg.ops.capture.lineage import author

    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    with repo.model_lock(name):
        state = repo.locked_state(name)
        previous = state.aliases.targets.get(alias)
        if previous is None:
            raise NotFoundError(f"{name!r} has no alias {alias!r}", code="unknown_alias")
        targets = {a: v for a, v in state.aliases.targets.items() if a != alias}
        entries = _commit(repo, name, targets, alias, None, previous, reason, who)
    hooks.after(repo, entries)  # issue 13: once the lock is released
    return AliasResult(name, alias, None, previous, True)


def aliases(repo: Repo, name: str) -> dict[str, int]:
    return dict(sorted(repo.state(name).aliases.targets.items()))


def _commit(
    repo: Repo,
    name: str,
    targets: dict[str, int],
    alias: str,
    version: int | None,
    previous: int | None,
    reason: str | None,
    who: str,
) -> list[dict[str, Any]]:
    change = Change(name)
    write_yaml(repo, change, repo.model_dir(name) / "aliases.yaml", AliasFile(name, targets).to_yaml_data())
    change.records.append(record("alias", name, version, actor=who, reason=reason, alias=alias, previous=previous))
    return repo.commit(change)
