"""One person however an identity is spelled; a request file counts only what the audit log records;
--force never passes approvals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from support.governance import add_policy, refused
from support.results import ok_doc as ok

from modelreg import Registry

IGNORED = (".modelreg/cache", ".modelreg/locks")


@pytest.fixture
def gated(reg_path: Path, make_file: Any, tmp_path: Path) -> tuple[Path, str]:
    """Production needs two approvals; churn@1 has a request filed by alice."""
    add_policy(reg_path, "[gates.production]\napprovals = 2")
    reg = Registry(reg_path)
    reg.register("churn", [make_file(tmp_path / "w.bin", "weights")], author="alice")
    return reg_path, reg.request("churn@1", "production", reason="go", actor="alice").id


def _edit_request(root: Path, request_id: str, change: Any) -> None:
    import yaml

    path = root / "models" / "churn" / "requests" / f"{request_id}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("spelling", ["alice", "alice ", "ALICE", " Alice"])
def test_the_requester_under_another_spelling_cannot_approve(cli: Any, gated: tuple[Path, str], spelling: str) -> None:
    root, request_id = gated
    before = snapshot(root, ignore=IGNORED)
    line = refused(cli("approve", request_id, "--author", spelling, "-R", root))
    assert "cannot approve" in line
    assert snapshot(root, ignore=IGNORED) == before


def test_an_approver_under_another_spelling_counts_once(cli: Any, gated: tuple[Path, str]) -> None:
    root, request_id = gated
    ok(cli("approve", request_id, "--author", "bob", "-R", root))
    line = refused(cli("approve", request_id, "--author", "BOB ", "-R", root))
    assert "already approved" in line
    assert Registry(root).resolve("churn@1").stage == "development"
    done = ok(cli("approve", request_id, "--author", "carol", "--json", "-R", root))
    assert done["applied"] is True and done["approved_by"] == ["bob", "carol"]


@pytest.mark.parametrize("who", ["   ", "bob\nalice", "\x1b[2Jbob", "x" * 201])
def test_an_identity_that_is_blank_or_holds_control_characters_is_refused(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path, who: str
) -> None:
    weights = make_file(tmp_path / "w.bin", "weights")
    before = snapshot(reg_path, ignore=IGNORED)
    for result in (
        cli("register", "m", weights, "--author", who, "-R", reg_path),
        cli("register", "m", weights, "-R", reg_path, env={"MODELREG_AUTHOR": who}),
    ):
        assert "invalid identity" in refused(result, 2)
    assert snapshot(reg_path, ignore=IGNORED) == before
    created = ok(cli("register", "m", weights, "--author", "  bob  ", "--json", "-R", reg_path))
    assert created["created_by"] == "bob"


def test_an_approval_written_into_the_request_file_by_hand_is_refused(cli: Any, gated: tuple[Path, str]) -> None:
    root, request_id = gated
    path = root / "models" / "churn" / "requests" / f"{request_id}.yaml"
    honest = path.read_bytes()
    forged = {"by": "bob", "at": "2026-12-01T23:47:00Z", "reason": None}
    _edit_request(root, request_id, lambda d: d["approvals"].append(forged))
    line = refused(cli("approve", request_id, "--author", "carol", "--json", "-R", root), 5)
    assert str(path) in line and "audit log does not record" in line
    assert Registry(root).resolve("churn@1").stage == "development"
    # The file put back as the log tells it: bob, who never approved, still may.
    path.write_bytes(honest)
    ok(cli("approve", request_id, "--author", "carol", "--json", "-R", root))
    decided = ok(cli("approve", request_id, "--author", "bob", "--json", "-R", root))
    assert decided["applied"] is True and sorted(decided["approved_by"]) == ["bob", "carol"]
    approvals = [e for e in Registry(root).audit.entries() if e["action"] == "approve"]
    assert [e["actor"] for e in approvals] == ["carol", "bob"]


@pytest.mark.parametrize("field,value", [("version", 2), ("stage", "staging"), ("requested_by", "mallory")], ids=str)
def test_a_request_file_that_tells_another_story_than_the_log_is_refused(
    cli: Any, gated: tuple[Path, str], make_file: Any, tmp_path: Path, field: str, value: Any
) -> None:
    root, request_id = gated
    Registry(root).register("churn", [make_file(tmp_path / "w2.bin", "weights 2")], author="alice")
    _edit_request(root, request_id, lambda d: d.__setitem__(field, value))
    before = snapshot(root, ignore=IGNORED)
    line = refused(cli("approve", request_id, "--author", "bob", "-R", root), 5)
    assert "audit log" in line
    assert snapshot(root, ignore=IGNORED) == before


def test_force_with_missing_approvals_says_approvals_are_never_forced(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path
) -> None:
    add_policy(reg_path, '[gates.production]\nmetrics = ["acc >= 0.9"]\napprovals = 1\nallow_force = true')
    ok(cli("register", "m", make_file(tmp_path / "w.bin", "w"), "-m", "acc=0.5", "-R", reg_path))
    line = refused(cli("promote", "m@1", "production", "--force", "-R", reg_path))
    assert "--force never passes approvals" in line and "--force passes" not in line, line
