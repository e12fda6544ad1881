"""``promote`` and ``rollback``: moving a version between stages.

An exclusive stage holds one version: the holder it displaces moves to the archive stage, as
its own audit entry of the same change.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelreg.errors import ConflictError, NotFoundError
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.state import ModelState, StageFile
from modelreg.repo import Repo

from .changes import check_text, record, write_yaml


@dataclass(frozen=True)
class PromoteResult:
    version: Version
    changed: bool
    from_stage: str
    archived: tuple[int, ...] = ()


def promote(
    repo: Repo, ref: Ref | str, stage: str, *, reason: str | None = None, actor: str | None = None
) -> PromoteResult:
    from .lineage import author
    from .resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    repo.config.check_stage(stage)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    with repo.model_lock(ref.name):
        state = repo.locked_state(ref.name)
        version = resolve_in(repo, state, ref)
        current = version.stage
        if current == stage:
            return PromoteResult(version, False, current)
        if stage in repo.config.require_reason and not reason:
            raise ConflictError(
                f"this registry's policy requires --reason to move a version to {stage!r}", code="policy"
            )
        change = Change(ref.name)
        assignments, archived = displace(repo, change, state, stage, version.version, who)
        assignments[version.version] = stage
        write_stages(repo, change, ref.name, assignments)
        change.records.append(
            record("promote", ref.name, version.version, actor=who, from_stage=current, to_stage=stage, reason=reason)
        )
        repo.commit(change)
    return PromoteResult(version.with_stage(stage), True, current, archived)


def rollback(
    repo: Repo, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
) -> PromoteResult:
    """Put back in production the version that held it before the current one (or ``to``)."""
    from .history import history

    production = repo.config.production_stage()
    if to is None:
        current = set(repo.state(name).holders(production))
        previous = [
            e["version"]
            for e in history(repo, name)
            if e.get("to_stage") == production and isinstance(e.get("version"), int) and e["version"] not in current
        ]
        if not previous:
            raise NotFoundError(
                f"{name!r} has no earlier production version to roll back to", code="no_previous_production"
            )
        to = previous[-1]
    return promote(repo, Ref(name, version=to), production, reason=reason or "rollback", actor=actor)


def displace(
    repo: Repo, change: Change, state: ModelState, stage: str, by: int, who: str
) -> tuple[dict[int, str], tuple[int, ...]]:
    """If ``stage`` is exclusive, move its holders (other than ``by``) to the archive stage,
    each with its own audit entry; return the new assignments and the versions moved."""
    assignments = dict(state.stages.assignments)
    if stage not in repo.config.exclusive:
        return assignments, ()
    archive = repo.config.archive_stage
    moved = tuple(n for n in state.holders(stage) if n != by)
    for old in moved:
        assignments[old] = archive
        change.records.append(
            record(
                "archive",
                state.index.name,
                old,
                actor=who,
                from_stage=stage,
                to_stage=archive,
                reason=f"replaced in {stage} by version {by}",
            )
        )
    return assignments, moved


def write_stages(repo: Repo, change: Change, name: str, assignments: dict[int, str]) -> None:
    write_yaml(repo, change, repo.model_dir(name) / "stages.yaml", StageFile(name, assignments).to_yaml_data())
