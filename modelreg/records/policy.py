"""The governance part of ``modelreg.toml``: allowed transitions, the gates of each stage, hooks.

```toml
[stages.transitions]      # stage -> stages it may move to; an unlisted stage moves anywhere
development = ["staging"]
[gates.production]        # checked before a version enters the stage
metrics = ["accuracy >= 0.9", "auc >= current"]
require = ["description", "tag:owner", "file:MODEL_CARD.md", "git:clean", "ci"]
approvals = 2
check = ["python checks/fairness.py"]
allow_force = false
[hooks]                   # event -> shell commands run after the change is durable
promote = ["./notify.sh"]
[environments.prod-eu]    # where versions are deployed: only a production version runs here
stage = "production"
```

A typo must never switch a rule off silently, so an unknown key anywhere here is refused.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import UsageError
from modelreg.records.names import parse_number

EVENTS = (
    "register",
    "promote",
    "archive",
    "alias",
    "annotate",
    "request",
    "approve",
    "reject",
    "remove",
    "deploy",
    "undeploy",
)
DEFAULT_HOOK_TIMEOUT = 60.0
DEFAULT_CHECK_TIMEOUT = 600.0
MAX_APPROVALS = 100
FLAT_REQUIREMENTS = ("description", "git:clean", "ci", "safe-files")
KEYED_REQUIREMENTS = ("tag", "param", "metric", "file")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_METRIC_RE = re.compile(r"\s*([A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127})\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*")
_GATE_KEYS = frozenset(
    {"metrics", "require", "approvals", "check", "allow_force", "check_timeout_seconds"}
    | {"signed_approvals", "signed_by"}
)
_ENVIRONMENT_KEYS = frozenset({"stage"})


@dataclass(frozen=True)
class MetricRule:
    """``METRIC OP NUMBER`` or ``METRIC OP current`` (the same metric of the stage's holder)."""

    text: str
    metric: str
    op: str
    bound: float | None  # None: compare with the current holder

    def holds(self, value: float, bound: float) -> bool:
        return _OPS[self.op](value, bound)


@dataclass(frozen=True)
class Gate:
    metrics: tuple[MetricRule, ...] = ()
    require: tuple[str, ...] = ()
    approvals: int = 0
    checks: tuple[str, ...] = ()
    allow_force: bool = False
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    signed_by: tuple[str, ...] = ()  # a version signature by one of these identities
    signed_approvals: bool = False  # count only approvals whose SSH signature verifies (allowed_signers)

    @property
    def empty(self) -> bool:
        return not (self.metrics or self.require or self.approvals or self.checks or self.signed_by)


@dataclass(frozen=True)
class EnvironmentRule:
    """``[environments.NAME]``: what a version must be to be deployed there."""

    stage: str | None = None  # only a version holding this stage


@dataclass(frozen=True)
class Policy:
    transitions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    hooks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    environments: dict[str, EnvironmentRule] = field(default_factory=dict)

    def environment(self, env: str) -> EnvironmentRule:
        return self.environments.get(env) or EnvironmentRule()

    def gate(self, stage: str) -> Gate:
        return self.gates.get(stage) or Gate()

    def commands(self) -> dict[str, dict[str, list[str]]]:
        """Every command the registry would have this machine run: what ``trust`` covers."""
        return {
            "hooks": {event: list(cmds) for event, cmds in sorted(self.hooks.items()) if cmds},
            "checks": {stage: list(g.checks) for stage, g in sorted(self.gates.items()) if g.checks},
        }

    def commands_digest(self) -> str:
        canonical = json.dumps(self.commands(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def rules_digest(self) -> str:
        """A digest of the rules a move obeys (transitions and gates, not hooks): each move's audit
        entry records the rules it was checked against (``rules``), see ops/justified.py."""
        gates = {
            stage: {
                "metrics": [m.text for m in g.metrics],
                "require": list(g.require),
                "approvals": g.approvals,
                "check": list(g.checks),
                "allow_force": g.allow_force,
            }
            for stage, g in sorted(self.gates.items())
            if not g.empty or g.allow_force
        }
        body = {"transitions": {k: list(v) for k, v in sorted(self.transitions.items())}, "gates": gates}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def has_commands(self) -> bool:
        commands = self.commands()
        return bool(commands["hooks"] or commands["checks"])


Bad = Callable[[str], UsageError]


def _strings(value: Any, where: str, bad: Bad) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise bad(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _seconds(value: Any, where: str, bad: Bad) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 86400 * 7:
        raise bad(f"{where} must be a number of seconds above 0")
    return float(value)


def parse_metric_rule(text: str, where: str, bad: Bad) -> MetricRule:
    match = _METRIC_RE.fullmatch(text)
    if not match:
        raise bad(f"{where}: {text!r} is not 'METRIC OP NUMBER' or 'METRIC OP current' (OP: >= > <= < == !=)")
    metric, op, bound_text = match.groups()
    if bound_text == "current":
        return MetricRule(text.strip(), metric, op, None)
    try:
        bound = float(parse_number(metric, bound_text))
    except UsageError:
        raise bad(f"{where}: {text!r}: {bound_text!r} is neither a number nor 'current'") from None
    return MetricRule(text.strip(), metric, op, bound)


def check_requirement(item: str, where: str, bad: Bad) -> str:
    kind, sep, key = item.partition(":")
    if item in FLAT_REQUIREMENTS or (sep and kind in KEYED_REQUIREMENTS and key.strip() == key and key):
        return item
    raise bad(
        f"{where}: unknown requirement {item!r}; use description, tag:KEY, param:KEY, metric:KEY, "
        "file:PATH, git:clean, ci or safe-files"
    )


def _parse_gate(stage: str, table: Any, bad: Bad) -> Gate:
    where = f"gates.{stage}"
    if not isinstance(table, dict):
        raise bad(f"[{where}] must be a table")
    unknown = sorted(set(table) - _GATE_KEYS)
    if unknown:
        raise bad(f"[{where}] has unknown key {unknown[0]!r} (known: {', '.join(sorted(_GATE_KEYS))})")
    metrics = tuple(
        parse_metric_rule(text, f"{where}.metrics", bad)
        for text in _strings(table.get("metrics", []), f"{where}.metrics", bad)
    )
    require = tuple(
        check_requirement(item, f"{where}.require", bad)
        for item in _strings(table.get("require", []), f"{where}.require", bad)
    )
    approvals = table.get("approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or not 0 <= approvals <= MAX_APPROVALS:
        raise bad(f"{where}.approvals must be a whole number from 0 to {MAX_APPROVALS}")
    allow_force = table.get("allow_force", False)
    if not isinstance(allow_force, bool):
        raise bad(f"{where}.allow_force must be true or false")
    timeout = table.get("check_timeout_seconds", DEFAULT_CHECK_TIMEOUT)
    signed_by = _strings(table.get("signed_by", []), f"{where}.signed_by", bad)
    signed_approvals = table.get("signed_approvals", False)
    if not isinstance(signed_approvals, bool):
        raise bad(f"{where}.signed_approvals must be true or false")
    return Gate(
        signed_approvals=signed_approvals,
        signed_by=signed_by,
        metrics=metrics,
        require=require,
        approvals=approvals,
        checks=_strings(table.get("check", []), f"{where}.check", bad),
        allow_force=allow_force,
        check_timeout=_seconds(timeout, f"{where}.check_timeout_seconds", bad),
    )


def parse_policy(data: dict[str, Any], stages: tuple[str, ...], default_stage: str, bad: Bad) -> Policy:
    """The rules of a parsed ``modelreg.toml`` (``data``), checked against its stages."""
    stages_t = data.get("stages", {})
    raw_transitions = stages_t.get("transitions", {}) if isinstance(stages_t, dict) else {}
    if not isinstance(raw_transitions, dict):
        raise bad("[stages.transitions] must be a table of stage = [stages]")
    transitions: dict[str, tuple[str, ...]] = {}
    for source, targets in raw_transitions.items():
        allowed = _strings(targets, f"stages.transitions.{source}", bad)
        for stage in (source, *allowed):
            if stage not in stages:
                raise bad(f"stages.transitions names stage {stage!r}, which is not one of stages.names")
        transitions[source] = allowed
    raw_gates = data.get("gates", {})
    if not isinstance(raw_gates, dict):
        raise bad("[gates] must hold one table per stage ([gates.production])")
    gates: dict[str, Gate] = {}
    for stage, table in raw_gates.items():
        if stage not in stages:
            raise bad(f"[gates.{stage}] names a stage that is not one of stages.names")
        gates[stage] = _parse_gate(stage, table, bad)
    if gates.get(default_stage, Gate()).approvals:
        raise bad(
            f"gates.{default_stage}.approvals: a new version enters the default stage {default_stage!r} by "
            "register, which cannot wait for approvals"
        )
    raw_hooks = data.get("hooks", {})
    if not isinstance(raw_hooks, dict):
        raise bad("[hooks] must be a table of event = [commands]")
    hooks: dict[str, tuple[str, ...]] = {}
    timeout = DEFAULT_HOOK_TIMEOUT
    for key, value in raw_hooks.items():
        if key == "timeout_seconds":
            timeout = _seconds(value, "hooks.timeout_seconds", bad)
        elif key in EVENTS:
            hooks[key] = _strings(value, f"hooks.{key}", bad)
        else:
            raise bad(f"[hooks] has unknown event {key!r} (events: {', '.join(EVENTS)})")
    environments = _parse_environments(data.get("environments", {}), stages, bad)
    return Policy(transitions=transitions, gates=gates, hooks=hooks, hook_timeout=timeout, environments=environments)


def _parse_environments(raw: Any, stages: tuple[str, ...], bad: Bad) -> dict[str, EnvironmentRule]:
    from .names import NAME_RULE, is_valid_name

    if not isinstance(raw, dict):
        raise bad("[environments] must hold one table per environment ([environments.prod-eu])")
    rules: dict[str, EnvironmentRule] = {}
    for env, table in raw.items():
        where = f"environments.{env}"
        if not is_valid_name(env):
            raise bad(f"[{where}]: invalid environment name ({NAME_RULE.replace('a model name', 'a name')})")
        if not isinstance(table, dict):
            raise bad(f"[{where}] must be a table")
        unknown = sorted(set(table) - _ENVIRONMENT_KEYS)
        if unknown:
            raise bad(f"[{where}] has unknown key {unknown[0]!r} (known: {', '.join(sorted(_ENVIRONMENT_KEYS))})")
        stage = table.get("stage")
        if stage is not None and (not isinstance(stage, str) or stage not in stages):
            raise bad(f"{where}.stage must be one of stages.names ({', '.join(stages)})")
        rules[env] = EnvironmentRule(stage=stage)
    return rules
