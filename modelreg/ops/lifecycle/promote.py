"""``promote`` and ``rollback``: moving a version between stages, under the registry's rules.

An exclusive stage holds one version: the holder it displaces moves to the archive stage, as
its own audit entry of the same change.

The rules (``ops/policy.py``) are evaluated before the model lock is taken, because a gate's
check commands may run for minutes or call modelreg themselves. Under the lock the state is read
again, and if anything the evaluation depended on has moved (the version's stage or annotations,
the stage's holder, the approvals) the evaluation is run again; after a few such rounds the
promotion is refused rather than applied on stale answers. Hooks run once the lock is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError, NotFoundError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.governance.policy import Evaluation, evaluate, fingerprint, settled_state
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.requests import Decision, Request
from modelreg.records.state import ModelState, StageFile
from modelreg.repo import Repo

ATTEMPTS = 5


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


def promote(
    repo: Repo,
    ref: Ref | str,
    stage: str,
    *,
    reason: str | None = None,
    actor: str | None = None,
    force: bool = False,
) -> PromoteResult:
    return _promote(repo, ref, stage, reason=reason, actor=actor, force=force)


def kept_changing(what: str) -> ConflictError:
    return ConflictError(
        f"{what}: the version or its stage kept changing while the gates were checked; try again", code="busy"
    )


def _promote(
    repo: Repo,
    ref: Ref | str,
    stage: str,
    *,
    reason: str | None,
    actor: str | None,
    force: bool = False,
    exempt: bool = False,
) -> PromoteResult:
    from modelreg.ops.capture.lineage import author
    from modelreg.ops.governance import hooks
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    repo.config.check_stage(stage)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    name = ref.name
    number = resolve_in(repo, settled_state(repo, name), ref).version
    for _ in range(ATTEMPTS):
        state = settled_state(repo, name)
        version = repo.load_version(state, number)
        evaluation = _decide(repo, state, version, stage, reason=reason, force=force, exempt=exempt)
        if evaluation.noop:
            return PromoteResult(version, False, version.stage)
        with repo.model_lock(name):
            state = repo.locked_state(name)
            version = repo.load_version(state, number)
            request = _locked_request(repo, evaluation)
            if fingerprint(state, version, stage, request) != evaluation.fingerprint:
                continue  # something the evaluation saw has moved: evaluate again
            forced = tuple(r.rule for r in evaluation.failed)
            extras: dict[str, object] = {}
            if forced:
                extras.update(forced=True, failed=list(forced))
            if exempt:
                extras["rollback"] = True
            change = Change(name)
            why = reason
            if request is not None:
                why = reason or request.reason
                apply_request(repo, change, request, who, why)
                extras["request"] = request.id
            archived = move(repo, change, state, version, stage, who, why, extras)
            entries = repo.commit(change)
        hooks.after(repo, entries)
        applied = request.id if request is not None else None
        return PromoteResult(version.with_stage(stage), True, version.stage, archived, forced, applied)
    raise kept_changing(f"promotion of {name}@{number} to {stage}")


def _decide(
    repo: Repo, state: ModelState, version: Version, stage: str, *, reason: str | None, force: bool, exempt: bool
) -> Evaluation:
    """Evaluate the promotion; return the evaluation if it may go ahead, else refuse."""
    from modelreg.ops.governance.request_store import open_request_for

    gate = repo.config.policy.gate(stage)
    request = None
    if gate.approvals and not exempt and version.removed is None:
        request = open_request_for(repo, version.name, version.version, stage)
    evaluation = evaluate(repo, state, version, stage, request=request, exempt=exempt)
    if evaluation.noop:
        return evaluation
    applies_request = request is not None and evaluation.approved  # its reason is the move's reason
    if stage in repo.config.require_reason and not reason and not applies_request:
        raise ConflictError(f"this registry's policy requires --reason to move a version to {stage!r}", code="policy")
    if evaluation.allowed or (force and evaluation.approved and evaluation.forcible):
        return evaluation
    hint = None
    if force and evaluation.failed:
        if not all(r.forcible for r in evaluation.failed):
            hint = "--force never passes a transition, a removal or a check command that is not trusted (it never ran)"
        elif not evaluation.allow_force:
            hint = f"--force is not allowed for {stage} (allow_force is false)"
        else:
            hint = "--force never passes approvals"
    elif force:
        hint = "--force never passes approvals"
    raise evaluation.refusal(f"promotion of {version.name}@{version.version} to {stage}", hint=hint)


def _locked_request(repo: Repo, evaluation: Evaluation) -> Request | None:
    """The request the evaluation counted approvals from, read again under the lock."""
    from modelreg.ops.governance.request_store import load_request

    if evaluation.request is None:
        return None
    return load_request(repo, evaluation.name, evaluation.request.id, locked=True)


def apply_request(repo: Repo, change: Change, request: Request, who: str, reason: str | None) -> None:
    """Close an approved request as applied, in the change that promotes its version."""
    from modelreg.ops.capture.lineage import now_utc
    from modelreg.ops.governance.request_store import request_path

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


def former_holders(repo: Repo, name: str, stage: str) -> list[int]:
    """Versions that genuinely entered ``stage``, in the order they did: each entry there
    justified by the rules (ops/justified.py), so a forged history exempts no version."""
    from modelreg.ops.governance.justified import model_justification

    return model_justification(repo, name).held(stage)


def rollback(
    repo: Repo, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
) -> PromoteResult:
    """Put back in production the version that held it before the current one (or ``to``).

    A version that genuinely held the stage before is exempt from transitions, gates and approvals (it
    passed them when it first entered; a rollback is an emergency) and is recorded with
    ``rollback: true``. ``to`` naming a version that never held it is an ordinary promotion.
    A removed version is never brought back.
    """
    production = repo.config.production_stage()
    state = repo.state(name)
    held = former_holders(repo, name, production)
    if to is None:
        current = set(state.holders(production))
        previous = [n for n in held if n not in current and n not in state.removed]
        if not previous:
            raise NotFoundError(
                f"{name!r} has no earlier production version to roll back to", code="no_previous_production"
            )
        to = previous[-1]
    return _promote(
        repo, Ref(name, version=to), production, reason=reason or "rollback", actor=actor, exempt=to in held
    )


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
