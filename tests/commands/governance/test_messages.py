"""What the governance commands say: a refused request names no --force (it has none); a stage
that needs approvals says that its allow_force has no effect; applying an approved request takes
the request's reason instead of asking for --reason again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.governance import add_policy, audit


def register(run: Any, reg: Path, tmp_path: Path, *args: str) -> None:
    path = tmp_path / "w.bin"
    path.write_text("weights")
    done = run("register", "churn", path, *args, "-R", reg)
    assert done.returncode == 0, done.stderr


def test_a_refused_request_does_not_suggest_force(run: Any, reg_path: Path, tmp_path: Path) -> None:
    add_policy(reg_path, '[gates.production]\nmetrics = ["acc >= 0.9"]\napprovals = 1\nallow_force = true')
    register(run, reg_path, tmp_path, "--metric", "acc=0.5")
    done = run("request", "churn@1", "production", "--reason", "r", "--author", "ada", "-R", reg_path)
    assert done.returncode == 4
    assert "acc >= 0.9" in done.stderr and "--force" not in done.stderr.split("warning")[0]


def test_allow_force_beside_approvals_is_called_out(run: Any, reg_path: Path, tmp_path: Path) -> None:
    add_policy(reg_path, "[gates.production]\napprovals = 1\nallow_force = true")
    register(run, reg_path, tmp_path)
    for args in (["check", "churn@1", "production"], ["promote", "churn@1", "production", "--force"]):
        done = run(*args, "-R", reg_path)
        assert done.returncode == 4
        assert "gates.production.allow_force has no effect" in done.stderr, done.stderr


def test_an_approved_request_is_applied_with_its_own_reason(run: Any, reg_path: Path, tmp_path: Path) -> None:
    config = reg_path / "modelreg.toml"
    config.write_text(config.read_text().replace("require_reason = []", 'require_reason = ["production"]'))
    add_policy(reg_path, "[gates.production]\napprovals = 2")
    register(run, reg_path, tmp_path)
    done = run("request", "churn@1", "production", "--reason", "quarterly", "--author", "ada", "--json", "-R", reg_path)
    assert done.returncode == 0, done.stderr
    rid = json.loads(done.stdout)["id"]
    assert run("approve", rid, "--author", "bob", "-R", reg_path).returncode == 0
    # The team lowers the count: the request now has its approvals, and promote applies it
    # with the request's reason rather than asking for --reason again.
    config.write_text(config.read_text().replace("approvals = 2", "approvals = 1"))
    applied = run("promote", "churn@1", "production", "-R", reg_path)
    assert applied.returncode == 0, applied.stderr
    entry = audit(reg_path)[-1]
    assert entry["action"] == "promote" and entry["reason"] == "quarterly" and entry["request"] == rid
