"""Issue 13: transitions, metric gates and requirements, their refusals, --force, register --stage,
rollback's exemption and the ``check`` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.governance import add_policy, audit, json_error, refused, register
from support.results import ok_doc as ok

from modelreg import Registry

ROOT = Path(__file__).resolve().parents[3]
TRANSITIONS = """
[stages.transitions]
development = ["staging"]
staging = ["production", "development"]
production = []
archived = ["development"]
"""


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def stage_of(cli: Any, root: Path, ref: str) -> str:
    return ok(cli("show", ref, "--json", "-R", root))["stage"]  # type: ignore[no-any-return]


# -- modelreg.toml -----------------------------------------------------------------------------


def test_the_example_policy_loads_and_says_what_it_means(tmp_path: Path) -> None:
    reg, _ = Registry.init(tmp_path / "reg")
    shutil.copy(ROOT / "examples" / "governance" / "modelreg.toml", reg.root / "modelreg.toml")
    policy = Registry(reg.root).config.policy
    assert policy.transitions == {
        "development": ("staging",),
        "staging": ("production", "development"),
        "production": (),
        "archived": ("development",),
    }
    production = policy.gate("production")
    assert [m.text for m in production.metrics] == ["accuracy >= 0.90", "auc >= current"]
    assert production.metrics[1].bound is None and production.metrics[0].bound == 0.9
    assert production.require == ("description", "tag:owner", "file:MODEL_CARD.md", "git:clean", "ci")
    assert production.approvals == 2 and production.allow_force is False
    assert production.checks == ("python3 checks/fairness.py --max-gap 0.05",)
    assert policy.hooks["promote"] == ("python3 hooks/notify.py",) and policy.hook_timeout == 30
    assert policy.gate("development").empty


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[gates.production]\napproval = 2", "unknown key 'approval'"),
        ('[gates.production]\nmetrics = ["accuracy => 0.9"]', "METRIC OP NUMBER"),
        ('[gates.production]\nmetrics = ["accuracy >= high"]', "neither a number nor 'current'"),
        ('[gates.production]\nrequire = ["tags:owner"]', "unknown requirement 'tags:owner'"),
        ("[gates.production]\napprovals = -1", "approvals must be a whole number"),
        ('[gates.production]\nallow_force = "yes"', "allow_force must be true or false"),
        ('[gates.production]\ncheck = "make check"', "must be a list of non-empty strings"),
        ("[gates.prod]\napprovals = 1", "[gates.prod] names a stage"),
        ("[gates.development]\napprovals = 1", "cannot wait for approvals"),
        ('[stages.transitions]\ndevelopment = ["prod"]', "stage 'prod'"),
        ('[hooks]\npromoted = ["true"]', "unknown event 'promoted'"),
        ("[hooks]\ntimeout_seconds = 0", "hooks.timeout_seconds"),
    ],
)
def test_a_malformed_rule_is_refused_with_exit_2(cli: Any, reg: Registry, text: str, needle: str) -> None:
    add_policy(reg.root, text)
    line = refused(cli("list", "-R", reg.root), code=2)
    assert needle in line and "modelreg.toml" in line


# -- transitions -------------------------------------------------------------------------------


def test_transitions_allow_the_listed_moves_and_archiving_from_anywhere(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    add_policy(reg.root, TRANSITIONS)
    register(reg, tmp_path)
    line = refused(cli("promote", "churn@1", "production", "-R", reg.root))
    assert "transition development -> production (development may move to: staging, archived)" in line
    assert stage_of(cli, reg.root, "churn@1") == "development"
    ok(cli("promote", "churn@1", "staging", "-R", reg.root))
    ok(cli("promote", "churn@1", "production", "-R", reg.root))
    # production = [] : only the archive stage, which every stage may move to.
    assert "production may move to: archived" in refused(cli("promote", "churn@1", "staging", "-R", reg.root))
    ok(cli("promote", "churn@1", "archived", "-R", reg.root))
    ok(cli("promote", "churn@1", "development", "-R", reg.root))


def test_an_unlisted_stage_moves_anywhere(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[stages.transitions]\nstaging = ["production"]')
    register(reg, tmp_path)
    ok(cli("promote", "churn@1", "production", "-R", reg.root))  # development is not listed


# -- metric gates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "passes"),
    [
        ("acc >= 0.9", 0.9, True),
        ("acc >= 0.9", 0.89, False),
        ("acc > 0.9", 0.9, False),
        ("acc > 0.9", 0.91, True),
        ("loss <= 0.2", 0.2, True),
        ("loss <= 0.2", 0.21, False),
        ("loss < 0.2", 0.2, False),
        ("n == 3", 3, True),
        ("n == 3", 4, False),
        ("n != 3", 3, False),
        ("n != 3", 4, True),
    ],
)
def test_metric_gates_compare_with_a_number(
    cli: Any, reg: Registry, tmp_path: Path, rule: str, value: float, passes: bool
) -> None:
    add_policy(reg.root, f'[gates.production]\nmetrics = ["{rule}"]')
    metric = rule.split()[0]
    register(reg, tmp_path, metrics={metric: value})
    result = cli("promote", "churn@1", "production", "--json", "-R", reg.root)
    if passes:
        assert ok(result)["stage"] == "production"
    else:
        assert f"{rule} ({metric} = {value:g}, bound" in refused(result)
        assert json_error(result)["failed"][0]["rule"] == rule


def test_a_missing_metric_fails_its_gate(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.production]\nmetrics = ["auc >= 0.5"]')
    register(reg, tmp_path, metrics={"accuracy": 0.99})
    assert "churn@1 has no metric 'auc'" in refused(cli("promote", "churn@1", "production", "-R", reg.root))


def test_current_compares_with_the_stage_holder(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.production]\nmetrics = ["auc >= current"]')
    register(reg, tmp_path, metrics={"auc": 0.80})
    register(reg, tmp_path, metrics={"auc": 0.75})
    register(reg, tmp_path, metrics={"auc": 0.85})
    register(reg, tmp_path, metrics={"accuracy": 0.9})
    check = ok(cli("check", "churn@1", "production", "--json", "-R", reg.root))
    assert check["checks"] == [{"rule": "auc >= current", "passed": True, "detail": "no version ever held production"}]
    ok(cli("promote", "churn@1", "production", "-R", reg.root))
    line = refused(cli("promote", "churn@2", "production", "-R", reg.root))
    assert "auc >= current (auc = 0.75, bound 0.8 (the holder churn@1))" in line
    ok(cli("promote", "churn@3", "production", "-R", reg.root))
    assert stage_of(cli, reg.root, "churn@1") == "archived"
    # A holder without the metric sets no bar; a candidate without it fails.
    assert "has no metric 'auc'" in refused(cli("promote", "churn@4", "production", "-R", reg.root))


# -- requirements ------------------------------------------------------------------------------------


def test_every_requirement_kind(cli: Any, reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_policy(
        reg.root,
        '[gates.production]\nrequire = ["description", "tag:owner", "param:C", "metric:auc", "file:MODEL_CARD.md", '
        '"git:clean", "ci"]',
    )
    register(reg, tmp_path)
    result = cli("promote", "churn@1", "production", "--json", "-R", reg.root)
    line = refused(result)
    failed = json_error(result)["failed"]
    assert [f["rule"] for f in failed] == [
        "description",
        "tag:owner",
        "param:C",
        "metric:auc",
        "file:MODEL_CARD.md",
        "git:clean",
        "ci",
    ]
    # One line names every failed rule with its detail.
    for text in ["description (empty)", "tag:owner (no tag 'owner')", "param:C (no param 'C')",
                 "metric:auc (no metric 'auc')", "file:MODEL_CARD.md (the version has no file 'MODEL_CARD.md')",
                 "git:clean (no git commit in the lineage)", "ci (not registered by a CI run)"]:  # fmt: skip
        assert text in line, line
    # A version that has all of it: registered from a clean git work tree by a CI run.
    work = tmp_path / "work"
    work.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    (work / "train.py").write_text("print('train')\n")
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "train"], cwd=work, check=True)
    (work / "model.bin").write_text("weights")
    (work / "MODEL_CARD.md").write_text("# card")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "7", "GITHUB_REPOSITORY": "t/m"}
    args = ["register", "churn", work / "model.bin", work / "MODEL_CARD.md", "-d", "a model", "-t", "owner=ada",
            "-p", "C=0.1", "-m", "auc=0.9", "-R", reg.root]  # fmt: skip
    monkeypatch.chdir(work)  # the lineage's git state is that of the working directory
    ok(cli(*args, env=env))
    assert ok(cli("promote", "churn@2", "production", "--json", "-R", reg.root))["stage"] == "production"
    # Uncommitted changes to a tracked file make the work tree dirty.
    (work / "train.py").write_text("print('changed')\n")
    ok(cli(*args, env=env))
    line = refused(cli("promote", "churn@3", "production", "-R", reg.root))
    assert "git:clean (commit " in line and "with uncommitted changes)" in line and "ci (" not in line


def test_require_reason_still_applies(cli: Any, reg: Registry, tmp_path: Path) -> None:
    text = (reg.root / "modelreg.toml").read_text().replace("require_reason = []", 'require_reason = ["production"]')
    (reg.root / "modelreg.toml").write_text(text)
    register(reg, tmp_path)
    assert "--reason" in refused(cli("promote", "churn@1", "production", "-R", reg.root))
    ok(cli("promote", "churn@1", "production", "--reason", "why", "-R", reg.root))


# -- --force -----------------------------------------------------------------------------------------


def test_force_passes_failing_gates_where_allowed_and_is_recorded(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.production]\nmetrics = ["acc >= 0.9"]\nrequire = ["tag:owner"]\nallow_force = true')
    register(reg, tmp_path, metrics={"acc": 0.5})
    line = refused(cli("promote", "churn@1", "production", "-R", reg.root))
    assert "--force passes the failing gates of production" in line
    data = ok(cli("promote", "churn@1", "production", "--force", "--reason", "hotfix", "--json", "-R", reg.root))
    assert data["stage"] == "production" and data["forced"] == ["acc >= 0.9", "tag:owner"]
    entry = audit(reg.root)[-1]
    assert entry["action"] == "promote" and entry["forced"] is True and entry["failed"] == ["acc >= 0.9", "tag:owner"]
    shown = ok(cli("log", "churn@1", "--action", "promote", "--json", "-R", reg.root))["entries"][-1]
    assert shown["forced"] is True and shown["failed"] == ["acc >= 0.9", "tag:owner"]


def test_force_is_refused_where_the_stage_does_not_allow_it(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.production]\nmetrics = ["acc >= 0.9"]')
    register(reg, tmp_path, metrics={"acc": 0.5})
    line = refused(cli("promote", "churn@1", "production", "--force", "-R", reg.root))
    assert "acc >= 0.9" in line and "--force is not allowed for production (allow_force is false)" in line
    assert stage_of(cli, reg.root, "churn@1") == "development"


def test_force_never_passes_a_transition(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, TRANSITIONS + '\n[gates.production]\nmetrics = ["acc >= 0.9"]\nallow_force = true')
    register(reg, tmp_path, metrics={"acc": 0.5})
    line = refused(cli("promote", "churn@1", "production", "--force", "-R", reg.root))
    assert "transition development -> production" in line and "--force never passes a transition" in line


def test_force_never_passes_approvals(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, "[gates.production]\napprovals = 1\nallow_force = true")
    register(reg, tmp_path)
    line = refused(cli("promote", "churn@1", "production", "--force", "-R", reg.root))
    assert "modelreg request churn@1 production" in line and "--force never passes approvals" in line


# -- register --stage: no back door ----------------------------------------------------------------


def test_register_into_a_stage_obeys_its_transition_and_gates(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, TRANSITIONS + '\n[gates.staging]\nmetrics = ["acc >= 0.8"]\nrequire = ["tag:owner"]')
    model = tmp_path / "model.bin"
    model.write_text("weights")
    before = sorted((reg.root / "blobs").rglob("*"))
    result = cli("register", "churn", model, "--stage", "production", "-m", "acc=0.9", "--json", "-R", reg.root)
    assert "transition (new) development -> production" in refused(result)
    result = cli("register", "churn", model, "--stage", "staging", "-m", "acc=0.5", "-R", reg.root)
    line = refused(result)
    assert "acc >= 0.8 (acc = 0.5, bound 0.8)" in line and "tag:owner" in line
    # Refused before a byte was stored, and no model was created.
    assert sorted((reg.root / "blobs").rglob("*")) == before
    assert not (reg.root / "models" / "churn").exists()
    data = ok(cli("register", "churn", model, "--stage", "staging", "-m", "acc=0.85", "-t", "owner=a", "--json",
                  "-R", reg.root))  # fmt: skip
    assert data["stage"] == "staging" and data["version"] == 1


def test_register_into_a_stage_that_needs_approvals_is_refused(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, "[gates.production]\napprovals = 1")
    model = tmp_path / "model.bin"
    model.write_text("weights")
    line = refused(cli("register", "churn", model, "--stage", "production", "-R", reg.root))
    assert "register into the default stage, then run: modelreg request churn@VERSION production" in line


def test_register_into_a_stage_runs_its_checks(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.staging]\ncheck = ["echo the weights are too small >&2; exit 3"]')
    model = tmp_path / "model.bin"
    model.write_text("weights")
    line = refused(cli("register", "churn", model, "--stage", "staging", "-R", reg.root, env={"MODELREG_TRUST": "1"}))
    assert "the weights are too small" in line
    assert not (reg.root / "models" / "churn").exists()


def test_gates_of_the_default_stage_apply_to_every_register(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.development]\nrequire = ["description"]')
    model = tmp_path / "model.bin"
    model.write_text("weights")
    assert "description (empty)" in refused(cli("register", "churn", model, "-R", reg.root))
    ok(cli("register", "churn", model, "-d", "described", "-R", reg.root))


# -- rollback ----------------------------------------------------------------------------------------


def test_rollback_to_a_former_holder_is_exempt_and_recorded(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path, metrics={"acc": 0.7})
    register(reg, tmp_path, metrics={"acc": 0.95})
    ok(cli("promote", "churn@1", "production", "-R", reg.root))
    # The rules tighten after version 1 entered production.
    add_policy(reg.root, TRANSITIONS + '\n[gates.production]\nmetrics = ["acc >= 0.9"]\napprovals = 1')
    ok(cli("promote", "churn@2", "staging", "-R", reg.root))
    assert "approvals" in refused(cli("promote", "churn@2", "production", "-R", reg.root))
    reg2 = Registry(reg.root)  # reads the new rules
    request = reg2.request("churn@2", "production", reason="better", actor="ada")
    reg2.approve(request.id, actor="bob")
    assert stage_of(cli, reg.root, "churn@2") == "production"
    # Version 1 fails acc >= 0.9, archived -> production is no transition, and no approval was given:
    # a rollback brings it back anyway.
    data = ok(cli("rollback", "churn", "--json", "-R", reg.root))
    assert data["version"] == 1 and data["stage"] == "production"
    entry = [e for e in audit(reg.root) if e["action"] == "promote"][-1]
    assert entry["rollback"] is True and entry["version"] == 1 and entry["reason"] == "rollback"


def test_rollback_to_a_version_that_never_held_the_stage_obeys_the_rules(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path, metrics={"acc": 0.95})
    register(reg, tmp_path, metrics={"acc": 0.5})
    ok(cli("promote", "churn@1", "production", "-R", reg.root))
    add_policy(reg.root, '[gates.production]\nmetrics = ["acc >= 0.9"]')
    line = refused(cli("rollback", "churn", "--to", "2", "-R", reg.root))
    assert "acc >= 0.9" in line
    assert "rollback" not in audit(reg.root)[-1]


# -- check -----------------------------------------------------------------------------------------


def test_check_prints_the_evaluation_whether_or_not_it_is_allowed(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, TRANSITIONS + '\n[gates.staging]\nmetrics = ["acc >= 0.9"]\nrequire = ["description"]')
    register(reg, tmp_path, metrics={"acc": 0.95}, description="good")
    register(reg, tmp_path, metrics={"acc": 0.5})
    before = (reg.root / "audit.jsonl").read_bytes()
    allowed = cli("check", "churn@1", "staging", "--json", "-R", reg.root)
    assert allowed.exit_code == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert set(data) >= {"allowed", "name", "version", "stage", "checks", "approvals"}
    assert data["allowed"] is True and data["name"] == "churn" and data["version"] == 1 and data["stage"] == "staging"
    assert data["approvals"] == {"required": 0, "granted": 0, "by": []}
    assert [c["rule"] for c in data["checks"]] == ["transition development -> staging", "acc >= 0.9", "description"]
    assert all(set(c) == {"rule", "passed", "detail"} and c["passed"] for c in data["checks"])
    denied = cli("check", "churn@2", "production", "--json", "-R", reg.root)
    assert denied.exit_code == 4
    data = json.loads(denied.stdout)  # printed on stdout all the same
    assert data["allowed"] is False
    assert [c["rule"] for c in data["checks"] if not c["passed"]] == ["transition development -> production"]
    assert json_error(denied)["code"] == "policy"
    # Human output, and nothing changed.
    text = cli("check", "churn@2", "staging", "-R", reg.root)
    assert text.exit_code == 4 and "acc >= 0.9" in text.stdout and "not allowed" in text.stdout
    assert (reg.root / "audit.jsonl").read_bytes() == before
    # A version already in the stage: nothing to do, allowed.
    assert ok(cli("check", "churn@1", "development", "--json", "-R", reg.root))["allowed"] is True


def test_check_counts_approvals(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, "[gates.production]\napprovals = 2")
    register(reg, tmp_path)
    result = cli("check", "churn@1", "production", "--json", "-R", reg.root)
    assert result.exit_code == 4
    assert json.loads(result.stdout)["approvals"] == {"required": 2, "granted": 0, "by": []}
    assert "modelreg request churn@1 production" in result.stderr
    fresh = Registry(reg.root)  # reads the new rules
    request = fresh.request("churn@1", "production", reason="ready", actor="ada")
    fresh.approve(request.id, actor="bob")
    data = json.loads(cli("check", "churn@1", "production", "--json", "-R", reg.root).stdout)
    assert data["approvals"] == {"required": 2, "granted": 1, "by": ["bob"]} and data["request"] == request.id
    assert data["allowed"] is False


def test_check_of_an_unknown_stage_or_version(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    assert cli("check", "churn@1", "prod", "-R", reg.root).exit_code == 2
    assert cli("check", "churn@9", "production", "-R", reg.root).exit_code == 3
    assert os.environ.get("MODELREG_TRUST") is None
