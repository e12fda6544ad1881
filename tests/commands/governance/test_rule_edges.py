"""Rules that behaved as written but not as a team expects: ``current`` after the holder left the
stage, moves out of an archive stage that [stages.transitions] does not list, and --force on a
check command that never ran because it is not trusted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.governance import add_policy, audit


def register(run: Any, reg: Path, tmp_path: Path, n: int, *args: str) -> None:
    path = tmp_path / f"w{n}.bin"
    path.write_text(f"weights {n}")
    done = run("register", "churn", path, *args, "-R", reg)
    assert done.returncode == 0, done.stderr


def test_current_still_compares_with_a_removed_holder(run: Any, reg_path: Path, tmp_path: Path) -> None:
    add_policy(reg_path, '[gates.production]\nmetrics = ["auc >= current"]')
    register(run, reg_path, tmp_path, 1, "--metric", "auc=0.9")
    register(run, reg_path, tmp_path, 2, "--metric", "auc=0.5")
    assert run("promote", "churn@1", "production", "-R", reg_path).returncode == 0
    assert run("remove", "churn@1", "--reason", "recall", "-R", reg_path).returncode == 0
    done = run("check", "churn@2", "production", "--json", "-R", reg_path)
    assert done.returncode == 4
    [rule] = json.loads(done.stdout)["checks"]
    assert rule["passed"] is False and "churn@1" in rule["detail"] and "removed" in rule["detail"]
    refused = run("promote", "churn@2", "production", "-R", reg_path)
    assert refused.returncode == 4 and "auc >= current" in refused.stderr
    register(run, reg_path, tmp_path, 3, "--metric", "auc=0.95")
    assert run("promote", "churn@3", "production", "-R", reg_path).returncode == 0


def test_an_unlisted_archive_stage_leads_back_to_the_default_stage_only(
    run: Any, reg_path: Path, tmp_path: Path
) -> None:
    add_policy(reg_path, '[stages.transitions]\ndevelopment = ["staging"]\nstaging = ["production"]')
    register(run, reg_path, tmp_path, 1)
    assert run("promote", "churn@1", "archived", "-R", reg_path).returncode == 0
    for stage in ("production", "staging"):
        done = run("promote", "churn@1", stage, "-R", reg_path)
        assert done.returncode == 4, done.stderr
        assert f"transition archived -> {stage}" in done.stderr and "leads back to development only" in done.stderr
    assert run("promote", "churn@1", "development", "-R", reg_path).returncode == 0
    assert [e["to_stage"] for e in audit(reg_path) if e["action"] == "promote"] == ["archived", "development"]


def test_a_listed_archive_stage_obeys_its_own_list(run: Any, reg_path: Path, tmp_path: Path) -> None:
    add_policy(reg_path, '[stages.transitions]\ndevelopment = ["staging"]\narchived = ["staging"]')
    register(run, reg_path, tmp_path, 1)
    assert run("promote", "churn@1", "archived", "-R", reg_path).returncode == 0
    assert run("promote", "churn@1", "development", "-R", reg_path).returncode == 4
    assert run("promote", "churn@1", "staging", "-R", reg_path).returncode == 0


def test_force_never_passes_a_check_that_did_not_run(run: Any, reg_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "check-ran"
    add_policy(reg_path, f'[gates.staging]\ncheck = ["touch {marker}; exit 1"]\nallow_force = true')
    register(run, reg_path, tmp_path, 1)
    done = run("promote", "churn@1", "staging", "--force", "-R", reg_path)
    assert done.returncode == 4
    assert "not trusted" in done.stderr and "never passes" in done.stderr
    assert not marker.exists()
    assert [e["action"] for e in audit(reg_path)][-1] == "register"
    # Trusted, the check runs, fails, and --force passes it as allow_force says.
    assert run("trust", "-R", reg_path).returncode == 0
    forced = run("promote", "churn@1", "staging", "--force", "-R", reg_path)
    assert forced.returncode == 0, forced.stderr
    assert marker.exists() and audit(reg_path)[-1]["forced"] is True
