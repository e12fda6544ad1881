"""``promote`` and ``rollback``: moving a version between stages, under the registry's rules.

The move itself is the governed move of ``ops/governance/moves.py``: rules evaluated outside the
lock, applied under it only on the state they saw. A rollback to a version that genuinely held
the stage is exempt from the rules. Hooks run once the lock is released.
"""

from __future__ import annotations

from typing import Any

from modelreg.errors import ConflictError, NotFoundError
from modelreg.ops.changes import check_text
from modelreg.ops.governance.moves import PromoteResult, apply_request, governed, move
from modelreg.ops.governance.policy import Evaluation, evaluate, fingerprint, settled_state
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.requests import Request
from modelreg.records.state import ModelState
from modelreg.repo import Repo

__all__ = ["PromoteResult", "promote", "rollback"]


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
    from modelreg.ops.events import hooks
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    repo.config.check_stage(stage)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    name = ref.name
    number = resolve_in(repo, settled_state(repo, name), ref).version

    def decide() -> Evaluation:
        state = settled_state(repo, name)
        return _decide(repo, state, repo.load_version(state, number), stage, reason=reason, force=force, exempt=exempt)

    def apply(evaluation: Evaluation) -> tuple[PromoteResult, list[dict[str, Any]]] | None:
        state = repo.locked_state(name)
        version = repo.load_version(state, number)
        request = _locked_request(repo, evaluation)
        if fingerprint(state, version, stage, request) != evaluation.fingerprint:
            return None  # something the evaluation saw has moved: evaluate again
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
        applied = request.id if request is not None else None
        return PromoteResult(version.with_stage(stage), True, version.stage, archived, forced, applied), entries

    def settled(evaluation: Evaluation) -> tuple[PromoteResult, list[dict[str, Any]]] | None:
        if not evaluation.noop:
            return None
        version = repo.load_version(settled_state(repo, name), number)
        return PromoteResult(version, False, version.stage), []  # already there: no lock, no entry

    result, entries = governed(repo, name, f"promotion of {name}@{number} to {stage}", decide, apply, settled=settled)
    hooks.after(repo, entries)
    return result


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
