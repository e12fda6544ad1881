"""A governed move, written once: how a version enters a stage under the registry's rules.

The rules (``policy.evaluate``) are evaluated before the model lock is taken, because a gate's
check commands may run for minutes or call modelreg themselves. Under the lock the state is read
again, and if anything the evaluation depended on has moved (the version's stage or annotations,
the stage's holder, the approvals) the evaluation is run again; after a few such rounds the move
is refused rather than applied on stale answers (``governed``). promote, rollback, register into
a stage and the approval that completes a request all move this way, and all record the move
alike (``move``): an exclusive stage's holder is displaced to the archive stage as its own entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError
from modelreg.ops.changes import record, write_yaml
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.state import ModelState, StageFile
from modelreg.repo import Repo

if TYPE_CHECKING:
    from modelreg.records.requests import Request

ATTEMPTS = 5
E = TypeVar("E")
T = TypeVar("T")


def governed(
    repo: Repo,
    name: str,
    what: str,
    evaluate: Callable[[], E],
    apply: Callable[[E], T | None],
    *,
    new: bool = False,
    settled: Callable[[E], T | None] | None = None,
) -> T:
    """``evaluate()`` outside the lock, then ``apply(evaluation)`` under the model lock, which
    returns None when what the evaluation saw has moved (then all again); refused after a few
    rounds. ``settled(evaluation)``, when it answers, ends it with no lock taken (nothing to move)."""
    for _ in range(ATTEMPTS):
        evaluation = evaluate()
        if settled is not None and (answer := settled(evaluation)) is not None:
            return answer
        with repo.model_lock(name, new=new):
            done = apply(evaluation)
        if done is not None:
            return done
    raise kept_changing(what)


@dataclass(frozen=True)
class PromoteResult(Reported):
    version: Version
    changed: bool
    from_stage: str
    archived: tuple[int, ...] = ()
    forced: tuple[str, ...] = ()  # the failing rules --force passed
    request: str | None = None  # the approved request this promotion applied

    def to_json(self) -> dict[str, Any]:
        return {
            **self.version.to_json(),
            "changed": self.changed,
            "from_stage": self.from_stage,
            "archived": list(self.archived),
            "forced": list(self.forced),
            "request": self.request,
            **self.effects_json(),
        }


def kept_changing(what: str) -> ConflictError:
    return ConflictError(
        f"{what}: the version or its stage kept changing while the gates were checked; try again", code="busy"
    )


def apply_request(repo: Repo, change: Change, request: Request, who: str, reason: str | None) -> None:
    """Close an approved request as applied, in the change that promotes its version."""
    from modelreg.ops.capture.lineage import now_utc
    from modelreg.ops.governance.request_store import request_path
    from modelreg.records.requests import Decision

    closed = request.close("applied", Decision(who, now_utc(), reason))
    write_yaml(repo, change, request_path(repo, request.name, request.id), closed.to_yaml_data())


def move(
    repo: Repo,
    change: Change,
    state: ModelState,
    version: Version,
    stage: str,
    who: str,
    reason: str | None,
    extras: dict[str, object],
) -> tuple[int, ...]:
    """Add the promotion of ``version`` to ``stage`` (and the archive of a displaced holder)."""
    name = version.name
    assignments, archived = displace(repo, change, state, stage, version.version, who)
    assignments[version.version] = stage
    write_stages(repo, change, name, assignments)
    change.records.append(
        record(
            "promote",
            name,
            version.version,
            actor=who,
            from_stage=version.stage,
            to_stage=stage,
            reason=reason,
            rules=repo.config.policy.rules_digest(),  # what the move was checked against
            **extras,
        )
    )
    return archived


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
