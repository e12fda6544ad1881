"""``request``, ``requests``, ``approve`` and ``reject``: moves that need approvals.

A request is a file (``records/requests.py``) written through a change, and each step is an audit
entry: ``request``, ``approve``, ``reject``. None of them moves a version, except the approval
that reaches the stage's count: that one applies the promotion in the same change, as its own
``promote`` entry (with ``request: ID``) after the approve entry, gates re-checked first.

Every decision is made under the model lock on the request as it is then, so two approvers at
once never lose an approval and never apply it twice. A gate check may run for minutes, so it
runs before the lock (ops/policy.py); the approval is then committed only if nothing the check
saw has moved, else the gates are evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError, PolicyError, UsageError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.ops.governance.moves import PromoteResult, governed, move
from modelreg.ops.governance.policy import Evaluation, evaluate, fingerprint, settled_state
from modelreg.ops.governance.request_store import (
    find_request,
    load_request,
    model_requests,
    open_request_for,
    request_path,
)
from modelreg.records.journal import Change
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.requests import Decision, Request, new_id, person
from modelreg.repo import Repo


@dataclass(frozen=True)
class Decided(Reported):
    request: Request
    required: int
    promoted: PromoteResult | None = None  # the promotion the approval applied

    def to_json(self) -> dict[str, Any]:
        return {
            **self.request.to_json(self.required),
            "applied": self.promoted is not None,
            "promoted": self.promoted.version.to_json() if self.promoted else None,
            "archived": list(self.promoted.archived) if self.promoted else [],
            **self.effects_json(),
        }


@dataclass(frozen=True)
class Filed(Reported):
    """A request just filed."""

    request: Request
    required: int

    @property
    def id(self) -> str:
        return self.request.id

    def to_json(self) -> dict[str, Any]:
        return {**self.request.to_json(self.required), **self.effects_json()}


def required(repo: Repo, stage: str) -> int:
    return repo.config.policy.gate(stage).approvals


def request_json(repo: Repo, request: Request) -> dict[str, Any]:
    return request.to_json(required(repo, request.stage))


def _reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise UsageError(f"{what} needs --reason", code="invalid_input")
    check_text(reason, "reason")
    return reason


def file_request(
    repo: Repo, ref: Ref | str, stage: str, *, reason: str | None, actor: str | None = None, sign: Path | None = None
) -> Request:
    """Check the transition and gates of moving ``ref`` to ``stage`` and file a request for it;
    ``sign``: an SSH private key that signs the request (ops/proof/approvals.py)."""
    from modelreg.ops.capture.lineage import author, now_utc
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    repo.config.check_stage(stage)
    why = _reason(reason, "a request")
    who = author(actor)
    name = ref.name
    state = settled_state(repo, name)
    version = resolve_in(repo, state, ref)
    target = f"{name}@{version.version} to {stage}"
    if not required(repo, stage):
        raise PolicyError(
            f"{stage} needs no approvals: move it with: modelreg promote {name}@{version.version} {stage}"
        )
    evaluation = evaluate(repo, state, version, stage)
    if evaluation.noop:
        raise PolicyError(f"{name}@{version.version} is already in {stage}; nothing to request")
    if not evaluation.gates_ok:
        raise evaluation.refusal(f"request to move {target}", gates_only=True)
    with repo.model_lock(name):
        state = repo.locked_state(name)
        version = repo.load_version(state, version.version)
        if version.removed is not None or version.stage == stage:
            raise PolicyError(f"{name}@{version.version} changed while its gates were checked; try again")
        existing = open_request_for(repo, name, version.version, stage, locked=True)
        if existing is not None:
            raise PolicyError(
                f"request {existing.id} already asks to move {target} (by {existing.requested_by}); "
                f"approve it with: modelreg approve {existing.id}"
            )
        request_id = _unused_id(repo)
        signature = None
        if sign is not None:
            from modelreg.ops.proof.approvals import sign_decision

            signature = sign_decision(
                repo, sign, "request", name, version.version, version.digest, stage, request_id, who
            )
        filed = Request(
            id=request_id,
            signature=signature,
            name=name,
            version=version.version,
            stage=stage,
            from_stage=version.stage,
            requested_by=who,
            requested_at=now_utc(),
            reason=why,
        )
        change = Change(name)
        write_yaml(repo, change, request_path(repo, name, filed.id), filed.to_yaml_data())
        change.records.append(
            record(
                "request", name, version.version, actor=who, from_stage=version.stage, to_stage=stage, reason=why,
                request=filed.id, **_signed(signature, version.digest),
            )
        )  # fmt: skip
        entries = repo.commit(change)
    hooks.after(repo, entries, {"request": request_json(repo, filed)})
    return filed


def _unused_id(repo: Repo) -> str:
    import os

    for _ in range(100):
        candidate = new_id()
        if not any(os.path.exists(request_path(repo, n, candidate)) for n in repo.model_names()):
            return candidate
    raise ConflictError("could not find an unused request id")  # pragma: no cover - 2**32 ids


def list_requests(repo: Repo, name: str | None = None, *, include_closed: bool = False) -> list[Request]:
    names = [name] if name is not None else repo.model_names()
    if name is not None:
        repo.state(name)  # an unknown model is not found, not an empty list
    found = [r for n in names for r in model_requests(repo, n)]
    return [r for r in found if include_closed or r.is_open]


def version_requests(repo: Repo, name: str, number: int) -> list[Request]:
    return [r for r in model_requests(repo, name) if r.version == number]


def _signed(signature: str | None, digest: str) -> dict[str, str]:
    """The audit fields of a signed decision: the signature and the digest it covers."""
    return {} if signature is None else {"signature": signature, "digest": digest}


def _may_approve(request: Request, who: str, *, signed: bool = False) -> None:
    if not request.is_open:
        raise ConflictError(f"request {request.id} is {request.status}, not open", code="request_closed")
    if person(who) == person(request.requested_by):
        raise PolicyError(f"{who} filed request {request.id} and cannot approve it: approvals come from others")
    earlier = [d for d in request.approvals if person(d.by) == person(who)]
    if earlier and (not signed or earlier[-1].signature):
        raise PolicyError(f"{who} already approved request {request.id}; it needs another approver")


def _granted(repo: Repo, request: Request, digest: str) -> int:
    """The approvals that count: only signed ones where the stage's gate says signed_approvals."""
    if repo.config.policy.gate(request.stage).signed_approvals:
        from modelreg.ops.proof.approvals import signed_approvers

        return len(signed_approvers(repo, request, digest))
    return len(request.approvers())


def approve(
    repo: Repo, request_id: str, *, reason: str | None = None, actor: str | None = None, sign: Path | None = None
) -> Decided:
    """Record an approval; the one that reaches the stage's count also applies the promotion.
    ``sign``: an SSH private key that signs the approval; an approver whose earlier approval was
    unsigned may approve again with it, and the signed approval replaces the unsigned one."""
    from modelreg.ops.capture.lineage import author, now_utc

    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    signatures: dict[str, str] = {}  # signed once, whatever the rounds: the key may ask for a passphrase

    def check() -> tuple[Request, Evaluation | None]:
        """Outside the lock: the gates the approval would apply the promotion under, if it completes."""
        seen = find_request(repo, request_id)
        _may_approve(seen, who, signed=sign is not None)
        state = settled_state(repo, seen.name)
        version = repo.load_version(state, seen.version)
        if sign is not None and "sig" not in signatures:
            from modelreg.ops.proof.approvals import sign_decision

            signatures["sig"] = sign_decision(
                repo, sign, "approve", seen.name, seen.version, version.digest, seen.stage, seen.id, who
            )
        prospective = seen.approved(Decision(who, "", reason, signatures.get("sig")))
        if _granted(repo, prospective, version.digest) < required(repo, seen.stage):
            return seen, None
        evaluation = evaluate(repo, state, version, seen.stage, request=prospective)
        if not evaluation.noop and not evaluation.gates_ok:
            raise evaluation.refusal(
                f"approval of request {seen.id} ({seen.name}@{seen.version} to {seen.stage}) not recorded, the "
                "request stays open:",
                gates_only=True,
            )
        return seen, evaluation

    def record_approval(checked: tuple[Request, Evaluation | None]) -> tuple[Decided, list[dict[str, Any]]] | None:
        seen, evaluation = checked
        name, stage, count = seen.name, seen.stage, required(repo, seen.stage)
        signature = signatures.get("sig")
        state = repo.locked_state(name)
        current = load_request(repo, name, request_id, locked=True)
        _may_approve(current, who, signed=sign is not None)
        version = repo.load_version(state, current.version)
        if version.stage == stage:  # decided under the lock: a concurrent approval may have applied it
            raise PolicyError(
                f"{name}@{version.version} is already in {stage}; request {current.id} is moot: "
                f"modelreg reject {current.id} --reason 'already in {stage}'"
            )
        decision = Decision(who, now_utc(), reason, signature)
        updated = current.approved(decision)
        completes = _granted(repo, updated, version.digest) >= count
        if completes and (evaluation is None or fingerprint(state, version, stage, updated) != evaluation.fingerprint):
            return None  # the approval now completes the count, on a state the gates were not checked against
        change = Change(name)
        change.records.append(
            record(
                "approve", name, version.version, actor=who, from_stage=version.stage, to_stage=stage,
                reason=reason, request=current.id, **_signed(signature, version.digest),
            )
        )  # fmt: skip
        promoted = None
        if completes:
            updated = updated.close("applied", decision)
            extras: dict[str, object] = {"request": current.id}
            archived = move(repo, change, state, version, stage, who, current.reason, extras)
            promoted = PromoteResult(version.with_stage(stage), True, version.stage, archived, (), current.id)
        write_yaml(repo, change, request_path(repo, name, current.id), updated.to_yaml_data())
        return Decided(updated, count, promoted), repo.commit(change)

    name = find_request(repo, request_id).name
    decided, entries = governed(repo, name, f"approval of request {request_id}", check, record_approval)
    hooks.after(repo, entries, {"request": decided.request.to_json(decided.required)})
    return decided


def reject(repo: Repo, request_id: str, *, reason: str | None, actor: str | None = None) -> Decided:
    """Close an open request without moving anything (its requester may withdraw it this way)."""
    from modelreg.ops.capture.lineage import author, now_utc

    why = _reason(reason, "a rejection")
    who = author(actor)
    name = find_request(repo, request_id).name
    with repo.model_lock(name):
        state = repo.locked_state(name)
        current = load_request(repo, name, request_id, locked=True)
        if not current.is_open:
            raise ConflictError(f"request {current.id} is {current.status}, not open", code="request_closed")
        closed = current.close("rejected", Decision(who, now_utc(), why))
        change = Change(name)
        write_yaml(repo, change, request_path(repo, name, current.id), closed.to_yaml_data())
        change.records.append(
            record(
                "reject", name, current.version, actor=who, from_stage=state.stage_of(current.version),
                to_stage=current.stage, reason=why, request=current.id,
            )
        )  # fmt: skip
        entries = repo.commit(change)
    decided = Decided(closed, required(repo, closed.stage))
    hooks.after(repo, entries, {"request": decided.request.to_json(decided.required)})
    return decided
