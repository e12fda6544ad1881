"""verify replays the rules a move needed, not only the stages: a correctly hash-linked move that
nothing justifies (no approved request, a force the stage does not allow, a rollback to a version
that never genuinely held the stage, a static gate the version fails) exits 5 naming it; and a
forged history never exempts a version from the rules of a real ``rollback --to``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.governance import add_policy, audit, register
from support.guarantees import append_forged_entry

from modelreg import Registry

GATE = '[gates.production]\nmetrics = ["acc >= 0.9"]\nrequire = ["file:model.bin"]\napprovals = 1'


def set_stages(root: Path, **stages: str) -> None:
    path = root / "models" / "churn" / "stages.yaml"
    data = yaml.safe_load(path.read_text())
    data["versions"].update({int(k.removeprefix("v")): v for k, v in stages.items()})
    path.write_text(yaml.safe_dump(data))


def rules_now(root: Path) -> str:
    return Registry(root).config.policy.rules_digest()


def verify(run: Any, root: Path) -> tuple[int, list[dict[str, str]]]:
    done = run("verify", "--json", "-R", root)
    return done.returncode, json.loads(done.stdout)["findings"]


def governance(findings: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in findings if f["kind"] == "governance"]


@pytest.fixture
def gated(reg_path: Path, tmp_path: Path) -> Registry:
    """churn@1 (acc 0.95) went to production through an approved request; churn@2 (acc 0.5) is
    in staging."""
    add_policy(reg_path, GATE)
    reg = Registry(reg_path)
    register(reg, tmp_path, metrics={"acc": 0.95})
    register(reg, tmp_path, metrics={"acc": 0.5})
    reg.promote("churn@1", "staging")
    reg.promote("churn@2", "staging")
    request = reg.request("churn@1", "production", reason="ready", actor="ada")
    reg.approve(request.id, actor="bob")
    return Registry(reg_path)


def test_an_honest_history_verifies(run: Any, gated: Registry) -> None:
    assert verify(run, gated.root) == (0, [])


@pytest.mark.parametrize("claim", ["the rules in force", "no rules"])
def test_a_forged_promotion_into_a_gated_stage_fails_verify(run: Any, gated: Registry, claim: str) -> None:
    root = gated.root
    fields: dict[str, Any] = {"rules": rules_now(root)} if claim == "the rules in force" else {}
    append_forged_entry(
        root, action="promote", model="churn", version=2, from_stage="staging", to_stage="production", **fields
    )
    set_stages(root, v2="production", v1="archived")
    append_forged_entry(root, action="archive", model="churn", version=1, from_stage="production", to_stage="archived")
    code, findings = verify(run, root)
    assert code == 5
    [message] = governance(findings)
    assert "churn@2: the promote to production" in message and "mallory" in message
    assert "needs 1 approval" in message and "acc >= 0.9 fails" in message


def test_a_forced_entry_where_allow_force_is_false_fails_verify(run: Any, gated: Registry) -> None:
    root = gated.root
    append_forged_entry(
        root, action="promote", model="churn", version=2, from_stage="staging", to_stage="production",
        forced=True, failed=["acc >= 0.9"], request=None,
    )  # fmt: skip
    set_stages(root, v2="production", v1="archived")
    append_forged_entry(root, action="archive", model="churn", version=1, from_stage="production", to_stage="archived")
    code, findings = verify(run, root)
    assert code == 5
    assert any("allow_force is false for production" in m for m in governance(findings))


def test_a_forged_holder_gains_no_rollback_exemption(run: Any, gated: Registry) -> None:
    """A forged promote-and-archive pair makes churn@2 look like a former holder: a real
    ``rollback --to 2`` still obeys the rules, and verify names the forged move."""
    root = gated.root
    append_forged_entry(
        root, action="promote", model="churn", version=2, from_stage="staging", to_stage="production",
        rollback=True,
    )  # fmt: skip
    append_forged_entry(root, action="archive", model="churn", version=1, from_stage="production", to_stage="archived")
    append_forged_entry(
        root, action="promote", model="churn", version=1, from_stage="archived", to_stage="production",
        rollback=True,
    )  # fmt: skip
    append_forged_entry(root, action="archive", model="churn", version=2, from_stage="production", to_stage="archived")
    set_stages(root, v1="production", v2="archived")
    code, findings = verify(run, root)
    assert code == 5
    [message] = governance(findings)
    assert "churn@2: the rollback to production" in message and "never genuinely held production" in message

    before = len(audit(root))
    done = run("rollback", "churn", "--to", "2", "-R", root)
    assert done.returncode == 4, done.stderr
    assert "acc >= 0.9" in done.stderr and "approval" in done.stderr
    assert len(audit(root)) == before


def test_a_genuine_rollback_stays_exempt_and_verifies(run: Any, gated: Registry, tmp_path: Path) -> None:
    root = gated.root
    reg = Registry(root)
    register(reg, tmp_path, metrics={"acc": 0.97})
    reg.promote("churn@3", "staging")
    reg.approve(reg.request("churn@3", "production", reason="better", actor="ada").id, actor="bob")
    done = run("rollback", "churn", "--json", "-R", root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 1
    assert verify(run, root) == (0, [])


def test_moves_made_before_a_gate_was_tightened_stay_valid(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """The log keeps no older rules: the moves before the first one recorded under the rules in
    force are taken as made under their own; those after it must pass the rules in force."""
    reg = Registry(reg_path)
    register(reg, tmp_path, metrics={"acc": 0.5})
    reg.promote("churn@1", "production")
    add_policy(reg_path, GATE)
    assert verify(run, reg_path) == (0, [])
    reg = Registry(reg_path)
    register(reg, tmp_path, metrics={"acc": 0.95})  # the first entry under the rules in force
    assert verify(run, reg_path) == (0, [])
    # An entry appended now that claims the older rules is no longer taken as it is.
    old_rules = next(e["rules"] for e in audit(reg_path) if e["action"] == "promote")
    append_forged_entry(
        reg_path, action="promote", model="churn", version=2, from_stage="development", to_stage="production",
        rules=old_rules,
    )  # fmt: skip
    set_stages(reg_path, v2="production", v1="archived")
    append_forged_entry(
        reg_path, action="archive", model="churn", version=1, from_stage="production", to_stage="archived"
    )
    code, findings = verify(run, reg_path)
    assert code == 5
    [message] = governance(findings)
    assert "churn@2: the promote to production" in message and "needs 1 approval" in message


def test_an_applied_request_justifies_no_second_entry(run: Any, gated: Registry, tmp_path: Path) -> None:
    """churn@1's request was applied; churn@1 is replaced, and a forged promote citing that
    request again (its approvals were real) is still a move nothing justifies."""
    root = gated.root
    reg = Registry(root)
    register(reg, tmp_path, metrics={"acc": 0.97})
    reg.promote("churn@3", "staging")
    reg.approve(reg.request("churn@3", "production", reason="better", actor="ada").id, actor="bob")
    first = next(e["request"] for e in audit(root) if e["action"] == "promote" and e.get("request"))
    append_forged_entry(
        root, action="promote", model="churn", version=1, from_stage="archived", to_stage="production",
        request=first, rules=rules_now(root),
    )  # fmt: skip
    append_forged_entry(root, action="archive", model="churn", version=3, from_stage="production", to_stage="archived")
    set_stages(root, v1="production", v3="archived")
    code, findings = verify(run, root)
    assert code == 5
    [message] = governance(findings)
    assert f"request {first} was already closed" in message
