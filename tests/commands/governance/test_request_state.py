"""A request's state (status, approvals, decisions) is the audit log's: a request file that tells
another story is refused where it is acted on (exit 5) and named by verify, and a stray request
file never blocks a recall or a command about another request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.governance import add_policy, audit, register

from modelreg import Registry


@pytest.fixture
def gated(reg_path: Path, tmp_path: Path) -> Registry:
    """churn@1 and churn@2 in staging; production needs 2 approvals."""
    add_policy(reg_path, "[gates.production]\napprovals = 2")
    reg = Registry(reg_path)
    register(reg, tmp_path)
    register(reg, tmp_path)
    reg.promote("churn@1", "staging")
    reg.promote("churn@2", "staging")
    return reg


def request_path(root: Path, request_id: str) -> Path:
    return root / "models" / "churn" / "requests" / f"{request_id}.yaml"


def file_request(run: Any, root: Path, ref: str = "churn@1", author: str = "ada") -> str:
    done = run("request", ref, "production", "--reason", "ready", "--author", author, "--json", "-R", root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]  # type: ignore[no-any-return]


def verify(run: Any, root: Path) -> tuple[int, list[dict[str, str]]]:
    done = run("verify", "--json", "-R", root)
    return done.returncode, json.loads(done.stdout)["findings"]


def stage_of(root: Path, number: int) -> str | None:
    stages = yaml.safe_load((root / "models" / "churn" / "stages.yaml").read_text())
    return stages["versions"].get(number)  # type: ignore[no-any-return]


def test_a_rejected_request_edited_back_to_open_stays_rejected(run: Any, gated: Registry) -> None:
    root = gated.root
    rid = file_request(run, root)
    assert run("approve", rid, "--author", "bob", "-R", root).returncode == 0
    assert run("reject", rid, "--reason", "not now", "--author", "carol", "-R", root).returncode == 0
    path = request_path(root, rid)
    data = yaml.safe_load(path.read_text())
    data["status"], data["closed"] = "open", None
    path.write_text(yaml.safe_dump(data))
    entries_before = len(audit(root))

    done = run("approve", rid, "--author", "dave", "-R", root)
    assert done.returncode == 5, done.stderr
    assert str(path) in done.stderr and "'open'" in done.stderr and "'rejected'" in done.stderr
    assert len(audit(root)) == entries_before  # nothing recorded
    assert stage_of(root, 1) != "production"

    listed = run("requests", "--all", "--json", "-R", root)
    assert listed.returncode == 0 and "ignored" in listed.stderr

    code, findings = verify(run, root)
    assert code == 5
    assert [f for f in findings if f["kind"] == "request" and f["path"] == str(path)]


def test_an_approval_added_by_hand_is_refused_and_named(run: Any, gated: Registry) -> None:
    root = gated.root
    rid = file_request(run, root)
    path = request_path(root, rid)
    data = yaml.safe_load(path.read_text())
    data["approvals"] = [{"by": "bob", "at": "2030-01-01T00:00:00Z", "reason": None}]
    path.write_text(yaml.safe_dump(data))
    done = run("approve", rid, "--author", "carol", "-R", root)
    assert done.returncode == 5 and str(path) in done.stderr
    assert stage_of(root, 1) != "production"
    code, findings = verify(run, root)
    assert code == 5 and any(f["path"] == str(path) for f in findings)


def test_a_stray_request_file_blocks_nothing_and_verify_names_it(run: Any, gated: Registry) -> None:
    root = gated.root
    real = file_request(run, root, "churn@1")
    stray = request_path(root, "0badf00d")
    shutil.copy(request_path(root, real), stray)
    data = yaml.safe_load(stray.read_text())
    data["id"], data["version"] = "0badf00d", 2
    stray.write_text(yaml.safe_dump(data))

    code, findings = verify(run, root)
    assert code == 5
    named = [f for f in findings if f["path"] == str(stray)]
    assert named and "not recorded in the audit log" in named[0]["message"]

    listed = run("requests", "--json", "-R", root)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["requests"]] == [real]
    assert str(stray) in listed.stderr

    # The real request is approved and applied despite the stray file beside it.
    assert run("approve", real, "--author", "bob", "-R", root).returncode == 0
    applied = run("approve", real, "--author", "carol", "-R", root)
    assert applied.returncode == 0, applied.stderr
    assert stage_of(root, 1) == "production"

    # A gated promote of the version the stray file names is refused for its approvals (exit 4),
    # not for the stray file; the stray file itself is no request.
    promote = run("promote", "churn@2", "production", "-R", root)
    assert promote.returncode == 4 and "modelreg request churn@2 production" in promote.stderr

    # A recall is never blocked.
    removed = run("remove", "churn@2", "--reason", "recall", "-R", root)
    assert removed.returncode == 0, removed.stderr
    assert audit(root)[-1]["action"] == "remove"

    # Acting on the stray file itself is refused as what it is.
    acted = run("approve", "0badf00d", "--author", "erin", "-R", root)
    assert acted.returncode == 5 and str(stray) in acted.stderr


def test_a_removal_cancels_the_requests_the_log_has_open(run: Any, gated: Registry) -> None:
    root = gated.root
    rid = file_request(run, root, "churn@2")
    done = run("remove", "churn@2", "--reason", "recall", "--json", "-R", root)
    assert done.returncode == 0, done.stderr
    assert audit(root)[-1]["requests"] == [rid]
    assert yaml.safe_load(request_path(root, rid).read_text())["status"] == "cancelled"
    code, findings = verify(run, root)
    assert code == 0, findings


def test_a_stray_file_of_another_model_with_the_same_id_is_passed_over(
    run: Any, gated: Registry, tmp_path: Path
) -> None:
    root = gated.root
    rid = file_request(run, root)
    (tmp_path / "a.bin").write_text("a")
    assert run("register", "aaa", tmp_path / "a.bin", "-R", root).returncode == 0
    stray = root / "models" / "aaa" / "requests" / f"{rid}.yaml"
    stray.parent.mkdir()
    data = yaml.safe_load(request_path(root, rid).read_text())
    data["name"] = "aaa"
    stray.write_text(yaml.safe_dump(data))
    assert run("approve", rid, "--author", "bob", "-R", root).returncode == 0
    done = run("approve", rid, "--author", "carol", "-R", root)
    assert done.returncode == 0, done.stderr
    assert stage_of(root, 1) == "production"
    code, findings = verify(run, root)
    assert code == 5 and [f["path"] for f in findings if f["kind"] == "request"] == [str(stray)]
