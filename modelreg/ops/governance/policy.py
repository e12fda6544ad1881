"""Evaluating a move against the registry's rules: the transition, every gate, the approvals.

``evaluate`` changes nothing. ``check`` prints it; ``promote``, ``register --stage``, ``request``
and the approval that completes a request refuse what it refuses. A gate's ``check`` commands
run here, outside any lock: the caller takes the model lock afterwards and compares the
``fingerprint`` (the version's stage and annotations, the stage's holders, the request) with
the state under the lock, and evaluates again if anything the evaluation saw has moved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelreg.errors import PolicyError
from modelreg.ops.governance.rules import RuleResult, requirement, transition
from modelreg.records.manifest import Version
from modelreg.records.policy import Gate, MetricRule
from modelreg.records.state import ModelState
from modelreg.repo import Repo

if TYPE_CHECKING:
    from modelreg.records.requests import Request

TRUST_HINT = "not trusted on this machine"


@dataclass(frozen=True)
class Evaluation:
    name: str
    version: int
    stage: str
    from_stage: str | None  # None: a new version (register)
    checks: tuple[RuleResult, ...]
    required: int
    approvers: tuple[str, ...]
    request: Request | None
    allow_force: bool
    fingerprint: tuple[Any, ...]
    noop: bool = False

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.checks if not r.passed]

    @property
    def gates_ok(self) -> bool:
        return not self.failed

    @property
    def approved(self) -> bool:
        return len(self.approvers) >= self.required

    @property
    def allowed(self) -> bool:
        return self.noop or (self.gates_ok and self.approved)

    @property
    def forcible(self) -> bool:
        """Would --force pass every failing rule (approvals are never forced)?"""
        return self.allow_force and all(r.forcible for r in self.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "from_stage": self.from_stage,
            "checks": [r.to_json() for r in self.checks],
            "approvals": {"required": self.required, "granted": len(self.approvers), "by": list(self.approvers)},
            "request": self.request.id if self.request else None,
        }

    def approvals_rule(self) -> dict[str, Any] | None:
        """The approvals shortfall as a failed rule, with what to run next."""
        if self.approved:
            return None
        target = f"{self.name}@{self.version} {self.stage}"
        granted = len(self.approvers)
        if self.from_stage is None:
            detail = (
                f"{self.stage} needs {self.required} approval(s): register into the default stage, then run: "
                f"modelreg request {self.name}@VERSION {self.stage} --reason WHY"
            )
        elif self.request is None:
            detail = f"{self.stage} needs {self.required} approval(s): run: modelreg request {target} --reason WHY"
        else:
            detail = (
                f"request {self.request.id} has {granted} of {self.required}: reviewers run: "
                f"modelreg approve {self.request.id}"
            )
        return {"rule": f"approvals: {self.required}", "passed": False, "detail": detail}

    def refusal(self, what: str, *, gates_only: bool = False, hint: str | None = None) -> PolicyError:
        """The refusal naming every rule that failed, in one line (``gates_only``: approvals aside,
        for ``request`` and ``approve``, which have no --force: a stage that needs approvals is
        never entered by force, so no hint names it)."""
        failed = [r.to_json() for r in self.failed]
        approvals = None if gates_only else self.approvals_rule()
        if approvals:
            failed.append(approvals)
        parts = [f"{r['rule']} ({r['detail']})" for r in failed]
        hints = []
        if any(r.untrusted for r in self.failed):
            hints.append("a check command is not trusted here: review modelreg.toml, then run: modelreg trust")
        if hint:
            hints.append(hint)
        elif self.failed and self.forcible and not gates_only and not self.required:
            hints.append(f"--force passes the failing gates of {self.stage} (allow_force is true)")
        hint = f"; {'; '.join(hints)}" if hints else ""
        return PolicyError(f"{what} refused by policy: {'; '.join(parts)}{hint}", failed=failed)


def settled_state(repo: Repo, name: str) -> ModelState:
    """The model's state for an evaluation made outside the lock: an interrupted change of the
    model is finished first (under the lock), so that nothing is judged on a half-applied state."""
    if repo.journal.path_for(name).exists():
        repo.recover(name)
    return repo.state(name)


def fingerprint(state: ModelState, version: Version, stage: str, request: Request | None) -> tuple[Any, ...]:
    """What an evaluation depends on that a concurrent change could move."""
    req = None if request is None else (request.id, request.status, tuple(request.approvers()))
    return (
        version.version,
        version.stage,
        version.removed is not None,
        version.description,
        tuple(sorted(version.tags.items())),
        tuple(state.holders(stage)),
        req,
    )


def evaluate(
    repo: Repo,
    state: ModelState,
    version: Version,
    stage: str,
    *,
    new: bool = False,
    request: Request | None = None,
    run_checks: bool = True,
    exempt: bool = False,
) -> Evaluation:
    """The move of ``version`` (a new one with ``new``) to ``stage``; ``exempt`` (a rollback to a
    former holder) skips transitions, gates and approvals."""
    config = repo.config
    gate = config.policy.gate(stage)
    if gate.allow_force and gate.approvals:
        note = (
            f"{repo.root / 'modelreg.toml'}: gates.{stage}.allow_force has no effect: {stage} needs approvals, "
            "and approvals are never forced (a move there is applied by the approval that completes its request)"
        )
        if note not in repo.warnings:
            repo.warnings.append(note)
    source = None if new else version.stage
    print_key = fingerprint(state, version, stage, request)
    base = Evaluation(version.name, version.version, stage, source, (), 0, (), None, gate.allow_force, print_key)
    if version.removed is not None:
        removal = version.removed
        detail = f"removed {removal.get('removed_at')} by {removal.get('removed_by')}: {removal.get('reason')}"
        return replace(base, checks=(RuleResult("not removed", False, detail, forcible=False),))
    if not new and version.stage == stage:
        return replace(
            base, checks=(RuleResult("already there", True, f"already in {stage}; nothing to do"),), noop=True
        )
    if exempt:
        rule = RuleResult("rollback", True, f"held {stage} before: exempt from transitions, gates and approvals")
        return replace(base, checks=(rule,))
    checks: list[RuleResult] = []
    moving = transition(repo.config, source, stage)
    if moving is not None:
        checks.append(moving)
    checks += _metrics(repo, state, version, stage, gate)
    checks += [
        _safe_files(repo, version) if item == "safe-files" else requirement(version, item) for item in gate.require
    ]
    if gate.signed_by:
        checks.append(_signed_by(repo, version, gate.signed_by))
    checks += _commands(repo, version, stage, gate, source, run=run_checks)
    approvers = tuple(request.approvers()) if request is not None else ()
    if gate.signed_approvals and request is not None:
        from modelreg.ops.proof.approvals import signed_approvers

        approvers = signed_approvers(repo, request, version.digest)
    return replace(base, checks=tuple(checks), required=gate.approvals, approvers=approvers, request=request)


def _holder(repo: Repo, state: ModelState, version: Version, stage: str) -> Version | None:
    """What ``current`` compares with: the stage's holder; with none (it was removed or moved
    out), the last version that genuinely held the stage, so that emptying the stage never
    lowers the bar. Only a stage nothing ever genuinely held has no bar."""
    holders = [n for n in state.holders(stage) if n != version.version]
    if holders:
        return repo.load_version(state, holders[-1])
    from modelreg.ops.governance.justified import model_justification

    held = [n for n in model_justification(repo, version.name).held(stage) if n != version.version]
    return repo.load_version(state, held[-1]) if held else None


def _metrics(repo: Repo, state: ModelState, version: Version, stage: str, gate: Gate) -> list[RuleResult]:
    results = []
    holder: Version | None = None
    if any(rule.bound is None for rule in gate.metrics):
        holder = _holder(repo, state, version, stage)
    for rule in gate.metrics:
        results.append(_metric(rule, version, holder, stage))
    return results


def _metric(rule: MetricRule, version: Version, holder: Version | None, stage: str) -> RuleResult:
    value = version.metrics.get(rule.metric)
    if value is None:
        return RuleResult(rule.text, False, f"{version.name}@{version.version} has no metric {rule.metric!r}")
    bound = rule.bound
    against = ""
    if bound is None:
        if holder is None:
            return RuleResult(rule.text, True, f"no version ever held {stage}")
        held = holder.metrics.get(rule.metric)
        if held is None:
            return RuleResult(rule.text, True, f"{holder.name}@{holder.version} in {stage} has no {rule.metric!r}")
        bound = float(held)
        if holder.removed is None and holder.stage == stage:
            against = f" (the holder {holder.name}@{holder.version})"
        else:
            now = "removed" if holder.removed is not None else f"now in {holder.stage}"
            against = f" (the last holder of {stage}, {holder.name}@{holder.version}, {now})"
    passed = rule.holds(float(value), bound)
    return RuleResult(rule.text, passed, f"{rule.metric} = {value:g}, bound {bound:g}{against}")


def _safe_files(repo: Repo, version: Version) -> RuleResult:
    """Every file safe to load: no pickle importing a global outside the allowlist, none unread."""
    from modelreg.ops.proof.safety import judge

    bad = []
    for entry in version.files:
        verdict = judge(entry.format, entry.imports, entry.unreadable, repo.config.safety_allow)
        if verdict.safety != "safe":
            bad.append(f"{entry.path} is {verdict.safety} ({verdict.detail})")
    if not bad:
        return RuleResult("safe-files", True, f"{len(version.files)} file(s), none unsafe or unknown")
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return RuleResult("safe-files", False, "; ".join(bad[:3]) + more)


def _signed_by(repo: Repo, version: Version, signers: tuple[str, ...]) -> RuleResult:
    from modelreg.ops.proof.sign import signers_of

    rule = f"signed_by: {', '.join(signers)}"
    found, problems = signers_of(repo, version)
    wanted = {s.casefold() for s in signers}
    good = [who for who in found if who.casefold() in wanted]
    if good:
        return RuleResult(rule, True, f"signed by {', '.join(good)}")
    detail = f"signed by {', '.join(found)}, none of them required" if found else "no valid signature"
    if problems:
        detail += f" ({'; '.join(problems[:2])})"
    return RuleResult(rule, False, detail)


def _commands(
    repo: Repo, version: Version, stage: str, gate: Gate, source: str | None, *, run: bool
) -> list[RuleResult]:
    """The gate's check commands (``run`` false: only refuse untrusted ones, run nothing)."""
    if not gate.checks:
        return []
    from modelreg.ops.events.hooks import run_command
    from modelreg.ops.events.trust import is_trusted

    if not is_trusted(repo):
        # Never forcible: --force passes a check that ran and failed, not code that never ran.
        return [RuleResult(f"check: {cmd}", False, TRUST_HINT, forcible=False, untrusted=True) for cmd in gate.checks]
    if not run:
        return []
    env = {
        "MODELREG_EVENT": "check",
        "MODELREG_MODEL": version.name,
        "MODELREG_VERSION": str(version.version),
        "MODELREG_FROM_STAGE": source or "",
        "MODELREG_TO_STAGE": stage,
    }
    results = []
    for command in gate.checks:
        outcome = run_command(repo, command, version.to_json(), env, gate.check_timeout)
        if outcome.ok:
            detail = outcome.last_line or "exit 0"
        elif outcome.exit_code is None:
            detail = outcome.last_line
        else:
            detail = outcome.last_line or f"exit {outcome.exit_code}"
        results.append(RuleResult(f"check: {command}", outcome.ok, detail))
    return results
