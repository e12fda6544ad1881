"""The rules of one move that need nothing but the config and the version: the transition and
the ``require`` items. ``ops/policy.py`` evaluates a move with them, ``ops/justified.py`` judges
the moves the history records with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.records.config import Config
from modelreg.records.manifest import Version


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    detail: str
    forcible: bool = True  # --force may pass it (a gate); a transition or a removal never
    untrusted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "detail": self.detail}


def transition(config: Config, source: str | None, stage: str) -> RuleResult | None:
    """The transition rule of moving from ``source`` (None: a new version) to ``stage``."""
    start = config.default_stage if source is None else source
    if (source is None and stage == config.default_stage) or not config.policy.transitions:
        return None  # a plain register (where every version starts), or no transition rules at all
    rule = f"transition {start} -> {stage}" if source is not None else f"transition (new) {start} -> {stage}"
    if stage == config.archive_stage:
        return RuleResult(rule, True, "the archive stage is always allowed", forcible=False)
    allowed = config.policy.transitions.get(start)
    if allowed is None and start == config.archive_stage:
        # Everything may be archived, so an archive stage that may move anywhere would be a way
        # around every transition: unlisted, it leads back to where versions start only.
        allowed = (config.default_stage,)
        if stage == config.default_stage:
            return RuleResult(rule, True, f"{start} leads back to {stage}", forcible=False)
        detail = f"{start} (not in [stages.transitions]) leads back to {config.default_stage} only"
        return RuleResult(rule, False, detail, forcible=False)
    if allowed is None:
        return RuleResult(rule, True, f"{start} may move to any stage", forcible=False)
    if stage in allowed:
        return RuleResult(rule, True, "allowed", forcible=False)
    targets = ", ".join([*allowed, config.archive_stage]) if allowed else config.archive_stage
    return RuleResult(rule, False, f"{start} may move to: {targets}", forcible=False)


def requirement(version: Version, item: str) -> RuleResult:
    kind, _, key = item.partition(":")
    lineage = version.lineage or {}
    if item == "description":
        return RuleResult(item, bool(version.description.strip()), "set" if version.description.strip() else "empty")
    if item == "git:clean":
        git = lineage.get("git") if isinstance(lineage.get("git"), dict) else None
        if not git or not git.get("commit"):
            return RuleResult(item, False, "no git commit in the lineage")
        clean = git.get("dirty") is False
        return RuleResult(
            item, clean, f"commit {str(git['commit'])[:12]}" + ("" if clean else " with uncommitted changes")
        )
    if item == "ci":
        ci = lineage.get("ci")
        return RuleResult(
            item,
            bool(ci),
            f"{ci.get('provider')} run {ci.get('run_id')}" if isinstance(ci, dict) else "not registered by a CI run",
        )
    holders: dict[str, Any] = {"tag": version.tags, "param": version.params, "metric": version.metrics}
    if kind == "file":
        found = any(f.path == key for f in version.files)
        return RuleResult(item, found, "present" if found else f"the version has no file {key!r}")
    present = key in holders[kind]
    return RuleResult(item, present, f"{kind} {key} = {holders[kind][key]}" if present else f"no {kind} {key!r}")
