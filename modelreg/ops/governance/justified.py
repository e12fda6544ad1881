"""Which recorded moves the registry's rules justify: the history replayed against the rules.

The audit log is hash-linked, not signed: anyone who can edit the registry can append a correctly
linked ``promote`` entry and edit ``stages.yaml`` to match. So a move into a stage counts (for
``verify``, and for ``rollback``'s exemption) only if the rules justify it, from what the log and
the manifests hold:

- a stage that needs approvals: the entry applies a request (``request: ID``) that the log filed
  for that version and stage, with enough distinct approvers (never the requester) before it;
- a forced entry: the stage's ``allow_force`` is true (approvals are never forced);
- a rollback: the version genuinely held the stage before (its own entry there was justified);
- otherwise the transition from the stage the history puts the version in, and what of the gate
  cannot change after the fact: the static metric thresholds, ``metric:``, ``param:``,
  ``file:``, ``git:clean`` and ``ci`` requirements, read from the version's manifest.

What cannot be re-checked is left alone: ``METRIC OP current`` (the holder it compared with has
changed since), ``description`` and ``tag:`` (``annotate`` changes them afterwards) and check
commands (verify runs no code).

Which rules: each move's entry records the digest of the rules it was checked against
(``rules``). The log does not keep older rules, so moves are judged by the rules in force, with
one allowance for a gate tightened later: the moves of a model before its first move recorded
under the rules in force were made under other rules and are taken as they are. From that first
move on (and appending is the only way to add an entry to a hash-linked log) every move must
pass the rules in force, whatever rules it claims. What remains open: entries forged in the gap between a
change of the rules and the model's next move, claiming the old rules. Signed entries close it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import ModelregError
from modelreg.ops.governance.rules import requirement, transition
from modelreg.records.config import Config
from modelreg.records.identities import person
from modelreg.records.manifest import Version
from modelreg.repo import Repo


@dataclass(frozen=True)
class Unjustified:
    entry: dict[str, Any]
    why: str

    def describe(self) -> str:
        e = self.entry
        kind = "rollback" if e.get("rollback") is True else str(e.get("action"))
        return (
            f"{e.get('model')}@{e.get('version')}: the {kind} to {e.get('to_stage')} at {e.get('time')} "
            f"(by {e.get('actor')}) is justified by nothing: {self.why}"
        )


@dataclass
class Justification:
    genuine: dict[str, list[int]] = field(default_factory=dict)  # stage -> versions, in entry order
    unjustified: list[Unjustified] = field(default_factory=list)

    def held(self, stage: str) -> list[int]:
        return self.genuine.get(stage, [])


def _static_problems(version: Version | None, config: Config, stage: str) -> list[str]:
    if version is None:
        return []  # a missing manifest is a finding of its own
    gate = config.policy.gate(stage)
    problems = []
    for rule in gate.metrics:
        if rule.bound is None:
            continue
        value = version.metrics.get(rule.metric)
        if value is None or not rule.holds(float(value), rule.bound):
            problems.append(f"{rule.text} fails ({rule.metric} = {value})")
    for item in gate.require:
        if item == "description" or item.startswith("tag:"):
            continue
        result = requirement(version, item)
        if not result.passed:
            problems.append(f"{item} fails ({result.detail})")
    return problems


def justify(
    config: Config, entries: Iterable[dict[str, Any]], version_of: Callable[[int], Version | None]
) -> Justification:
    """Replay one model's entries and judge every ``register`` and ``promote`` into a stage."""
    in_force = config.policy.rules_digest()
    era = False  # a move recorded under the rules in force has been seen
    found = Justification()
    where: dict[int, str] = {}
    requests: dict[str, tuple[int, str, str]] = {}  # id -> (version, stage, requester)
    approvers: dict[str, list[str]] = {}
    closed: set[str] = set()  # requests rejected, cancelled or applied: none justifies another move
    for e in entries:
        action, number, stage = e.get("action"), e.get("version"), e.get("to_stage")
        rid = e.get("request")
        if action == "request" and isinstance(rid, str) and isinstance(number, int) and isinstance(stage, str):
            requests.setdefault(rid, (number, stage, person(str(e.get("actor")))))
        elif action == "approve" and isinstance(rid, str) and rid in requests and rid not in closed:
            who = person(str(e.get("actor")))
            if who != requests[rid][2] and who not in approvers.setdefault(rid, []):
                approvers[rid].append(who)
        elif action == "reject" and isinstance(rid, str):
            closed.add(rid)
        if action == "remove" and isinstance(e.get("requests"), list):
            closed.update(r for r in e["requests"] if isinstance(r, str))
        if not isinstance(number, int) or isinstance(number, bool):
            continue
        if action == "remove":
            where.pop(number, None)
            continue
        if action not in ("register", "promote", "archive") or not isinstance(stage, str):
            continue
        source = None if action == "register" else where.get(number)
        where[number] = stage
        if action == "archive" or stage == config.archive_stage:
            continue  # the archive stage is always allowed
        if e.get("rules") == in_force:
            era = True
        elif not era:
            found.genuine.setdefault(stage, []).append(number)  # made under other rules: taken as it is
            continue
        why = _why_not(config, e, number, stage, source, found, requests, approvers, closed, version_of)
        if isinstance(rid, str) and action == "promote":
            closed.add(rid)
        if why is None:
            found.genuine.setdefault(stage, []).append(number)
        else:
            found.unjustified.append(Unjustified(e, why))
    return found


def _why_not(
    config: Config,
    e: dict[str, Any],
    number: int,
    stage: str,
    source: str | None,
    found: Justification,
    requests: dict[str, tuple[int, str, str]],
    approvers: dict[str, list[str]],
    closed: set[str],
    version_of: Callable[[int], Version | None],
) -> str | None:
    """Why nothing justifies this entry, or None when the rules do."""
    if e.get("rollback") is True and number in found.held(stage):
        return None  # back to a version that genuinely held the stage: exempt
    gate = config.policy.gate(stage)
    problems = []
    if e.get("rollback") is True:
        problems.append(f"a rollback, but version {number} never genuinely held {stage}")
    rule = transition(config, source, stage)
    if rule is not None and not rule.passed:
        problems.append(f"{rule.rule} is not allowed ({rule.detail})")
    if gate.approvals:
        rid = e.get("request")
        if not isinstance(rid, str) or requests.get(rid, (None, None))[:2] != (number, stage):
            problems.append(f"{stage} needs {gate.approvals} approval(s) and no request filed for it is applied")
        elif rid in closed and source != stage:  # the same move applied on two merged branches is one
            problems.append(f"request {rid} was already closed (applied, rejected or cancelled)")
        elif len(approvers.get(rid, [])) < gate.approvals:
            granted = len(approvers.get(rid, []))
            problems.append(f"request {rid} had {granted} of {gate.approvals} approval(s) recorded")
    forced = e.get("forced") is True
    if forced and not gate.allow_force:
        problems.append(f"it is forced, and allow_force is false for {stage}")
    if not forced:
        problems += _static_problems(version_of(number), config, stage)
    return "; ".join(problems) if problems else None


def model_justification(repo: Repo, name: str, entries: list[dict[str, Any]] | None = None) -> Justification:
    """The justification of a model's recorded moves, under the registry's rules now."""
    state = repo.state(name)
    loaded: dict[int, Version | None] = {}

    def version_of(number: int) -> Version | None:
        if number not in loaded:
            try:
                loaded[number] = repo.load_version(state, number, cached=False)
            except ModelregError:
                loaded[number] = None
        return loaded[number]

    if entries is None:
        entries = repo.history_view.entries(name)
    return justify(repo.config, entries, version_of)
