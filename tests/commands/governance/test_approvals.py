"""Issue 13: request -> review -> approve. Distinct approvers, never the requester, never twice;
the approval that completes the count applies the promotion after re-checking the gates; parallel
approvers lose nothing and apply once; a git merge of two branches' approvals."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.governance import actions, add_policy, audit, json_error, refused, register
from support.procs import script_cmd, start
from support.results import ok_doc as ok

from modelreg import Registry


@pytest.fixture
def gated(reg_path: Path, tmp_path: Path) -> Registry:
    """churn@1 in staging; production needs 2 approvals and acc >= 0.9."""
    add_policy(reg_path, '[gates.production]\nmetrics = ["acc >= 0.9"]\napprovals = 2')
    reg = Registry(reg_path)
    register(reg, tmp_path, metrics={"acc": 0.95})
    reg.promote("churn@1", "staging")
    return reg


def file_request(cli: Any, root: Path, ref: str = "churn@1", author: str = "ada") -> dict[str, Any]:
    return ok(cli("request", ref, "production", "--reason", "ready", "--author", author, "--json", "-R", root))  # type: ignore[no-any-return]


def request_file(root: Path, request_id: str, name: str = "churn") -> dict[str, Any]:
    return yaml.safe_load((root / "models" / name / "requests" / f"{request_id}.yaml").read_text())  # type: ignore[no-any-return]


def test_a_request_is_a_file_and_an_entry(cli: Any, gated: Registry) -> None:
    root = gated.root
    req = file_request(cli, root)
    assert req["status"] == "open" and req["required"] == 2 and req["granted"] == 0
    assert req["name"] == "churn" and req["version"] == 1 and req["stage"] == "production"
    assert req["from_stage"] == "staging" and req["requested_by"] == "ada" and req["reason"] == "ready"
    on_disk = request_file(root, req["id"])
    assert on_disk["status"] == "open" and on_disk["requested_by"] == "ada" and on_disk["approvals"] == []
    entry = audit(root)[-1]
    assert entry["action"] == "request" and entry["request"] == req["id"] and entry["actor"] == "ada"
    assert (entry["from_stage"], entry["to_stage"]) == ("staging", "production")
    listed = ok(cli("requests", "--json", "-R", root))["requests"]
    assert [r["id"] for r in listed] == [req["id"]]
    assert ok(cli("requests", "churn", "--json", "-R", root))["requests"] == listed
    text = ok(cli("requests", "-R", root))
    assert req["id"] in text and "staging->production" in text and "0/2" in text
    # A second request for the same move is refused, naming the first.
    assert req["id"] in refused(cli("request", "churn@1", "production", "--reason", "again", "-R", root))


def test_promote_to_a_stage_that_needs_approvals_names_the_request_command(cli: Any, gated: Registry) -> None:
    line = refused(cli("promote", "churn@1", "production", "-R", gated.root))
    assert "modelreg request churn@1 production --reason" in line


def test_the_approval_that_completes_the_count_promotes(cli: Any, gated: Registry) -> None:
    root = gated.root
    req = file_request(cli, root)
    rid = req["id"]
    line = refused(cli("approve", rid, "--author", "ada", "-R", root))
    assert "ada filed request" in line
    first = ok(cli("approve", rid, "--author", "bob", "--reason", "card read", "--json", "-R", root))
    assert first["applied"] is False and first["granted"] == 1 and first["status"] == "open"
    assert first["promoted"] is None
    assert "already approved" in refused(cli("approve", rid, "--author", "bob", "-R", root))
    # Promote still refuses: 1 of 2.
    assert f"request {rid} has 1 of 2" in refused(cli("promote", "churn@1", "production", "-R", root))
    second = ok(cli("approve", rid, "--author", "carol", "--json", "-R", root))
    assert second["applied"] is True and second["status"] == "applied" and second["approved_by"] == ["bob", "carol"]
    assert second["promoted"]["stage"] == "production" and second["promoted"]["version"] == 1
    assert ok(cli("get-production", "churn", "--json", "-R", root))["version"] == 1
    assert actions(root)[-4:] == [("request", 1), ("approve", 1), ("approve", 1), ("promote", 1)]
    promote = audit(root)[-1]
    assert promote["request"] == rid and promote["actor"] == "carol" and promote["from_stage"] == "staging"
    assert promote["reason"] == "ready"
    on_disk = request_file(root, rid)
    assert on_disk["status"] == "applied" and [a["by"] for a in on_disk["approvals"]] == ["bob", "carol"]
    assert on_disk["closed"]["by"] == "carol"
    # Closed now: neither approved again nor listed as open; --all lists it.
    assert "applied, not open" in refused(cli("approve", rid, "--author", "dave", "-R", root))
    assert ok(cli("requests", "--json", "-R", root))["requests"] == []
    assert [r["status"] for r in ok(cli("requests", "--all", "--json", "-R", root))["requests"]] == ["applied"]
    # show displays the version's requests and approvals; log filters the new actions.
    shown = ok(cli("show", "churn@1", "--json", "-R", root))
    assert [(r["id"], r["status"], r["approved_by"]) for r in shown["requests"]] == [(rid, "applied", ["bob", "carol"])]
    text = ok(cli("show", "churn@1", "-R", root))
    assert "requests" in text and rid in text and "bob,carol" in text
    logged = ok(cli("log", "churn", "--action", "approve", "--action", "request", "--json", "-R", root))["entries"]
    assert [(e["action"], e["actor"]) for e in logged] == [("request", "ada"), ("approve", "bob"), ("approve", "carol")]
    assert all(e["request"] == rid for e in logged)


def test_a_gate_that_fails_at_the_last_approval_leaves_the_request_open(
    cli: Any, gated: Registry, tmp_path: Path
) -> None:
    root = gated.root
    text = (root / "modelreg.toml").read_text().replace('metrics = ["acc >= 0.9"]', 'metrics = ["acc >= current"]')
    (root / "modelreg.toml").write_text(text)
    reg = Registry(root)
    rid = file_request(cli, root)["id"]
    ok(cli("approve", rid, "--author", "bob", "-R", root))
    # Meanwhile a better version reaches production (by its own request).
    register(reg, tmp_path, metrics={"acc": 0.99})
    reg.promote("churn@2", "staging")
    other = reg.request("churn@2", "production", reason="better", actor="ada")
    reg.approve(other.id, actor="bob")
    reg.approve(other.id, actor="carol")
    before = (root / "audit.jsonl").read_bytes()
    result = cli("approve", rid, "--author", "carol", "--json", "-R", root)
    line = refused(result)
    assert "acc >= current (acc = 0.95, bound 0.99 (the holder churn@2))" in line and "stays open" in line
    assert json_error(result)["failed"][0]["rule"] == "acc >= current"
    assert (root / "audit.jsonl").read_bytes() == before  # the approval is not recorded
    on_disk = request_file(root, rid)
    assert on_disk["status"] == "open" and [a["by"] for a in on_disk["approvals"]] == ["bob"]


def test_reject_closes_a_request_and_moves_nothing(cli: Any, gated: Registry) -> None:
    root = gated.root
    rid = file_request(cli, root)["id"]
    assert refused(cli("reject", rid, "-R", root), code=2)  # a rejection needs --reason
    data = ok(cli("reject", rid, "--author", "bob", "--reason", "no model card", "--json", "-R", root))
    assert data["status"] == "rejected" and data["closed"]["by"] == "bob" and data["applied"] is False
    assert ok(cli("show", "churn@1", "--json", "-R", root))["stage"] == "staging"
    assert actions(root)[-1] == ("reject", 1) and audit(root)[-1]["reason"] == "no model card"
    assert "rejected, not open" in refused(cli("approve", rid, "--author", "carol", "-R", root))
    # The requester may withdraw a request the same way, and file a new one.
    again = file_request(cli, root)
    ok(cli("reject", again["id"], "--author", "ada", "--reason", "withdrawn", "-R", root))
    assert request_file(root, again["id"])["status"] == "rejected"


def test_a_request_checks_the_transition_and_gates(cli: Any, gated: Registry, tmp_path: Path) -> None:
    root = gated.root
    register(gated, tmp_path, metrics={"acc": 0.5})
    line = refused(cli("request", "churn@2", "production", "--reason", "try", "-R", root))
    assert "acc >= 0.9 (acc = 0.5, bound 0.9)" in line and "approvals" not in line
    assert "needs no approvals" in refused(cli("request", "churn@1", "staging", "--reason", "x", "-R", root))
    assert refused(cli("request", "churn@1", "production", "-R", root), code=2)  # --reason is required
    assert cli("approve", "0000000g", "-R", root).exit_code == 2
    assert cli("approve", "00000000", "-R", root).exit_code == 3


def test_an_approved_request_left_unapplied_is_applied_by_promote(cli: Any, gated: Registry) -> None:
    """Two approvals can meet without either applying it (approved on two git branches, see the
    merge test): promote then applies the request and closes it."""
    import shutil

    root = gated.root
    rid = file_request(cli, root)["id"]
    other = root.parent / "other-branch"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns(".modelreg"))
    ok(cli("approve", rid, "--author", "bob", "-R", root))
    ok(cli("approve", rid, "--author", "carol", "-R", other))
    # What git leaves after merging the two branches: the log's union, both approvals in the file.
    log = (root / "audit.jsonl").read_text()
    theirs = (other / "audit.jsonl").read_text().splitlines(keepends=True)[-1]
    (root / "audit.jsonl").write_text(log + theirs)
    path = root / "models" / "churn" / "requests" / f"{rid}.yaml"
    data = yaml.safe_load(path.read_text())
    data["approvals"] += yaml.safe_load((other / path.relative_to(root)).read_text())["approvals"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert ok(cli("check", "churn@1", "production", "--json", "-R", root))["allowed"] is True
    data = ok(cli("promote", "churn@1", "production", "--json", "-R", root))
    assert data["stage"] == "production" and data["request"] == rid
    assert request_file(root, rid)["status"] == "applied" and audit(root)[-1]["request"] == rid


# -- two processes at once ----------------------------------------------------------------------------


def _together(root: Path, tmp_path: Path, argvs: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Start each ``modelreg ARGS`` as a process that waits at a barrier, then release them all."""
    barrier = tmp_path / f"go-{time.monotonic_ns()}"
    procs = [start(script_cmd("barrier", barrier, *argv, "-R", root)) for argv in argvs]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob(f"{barrier.name}.*.ready"))) < len(procs):
        assert time.monotonic() < deadline, "the processes never reached the barrier"
        time.sleep(0.01)
    barrier.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.parametrize("round_", range(3))
def test_two_approvers_at_once_lose_nothing_and_apply_once(gated: Registry, tmp_path: Path, round_: int) -> None:
    root = gated.root
    rid = gated.request("churn@1", "production", reason="ready", actor="ada").id
    results = _together(root, tmp_path, [["approve", rid, "--author", "bob"], ["approve", rid, "--author", "carol"]])
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    on_disk = request_file(root, rid)
    assert sorted(a["by"] for a in on_disk["approvals"]) == ["bob", "carol"] and on_disk["status"] == "applied"
    assert [a for a, _ in actions(root)].count("approve") == 2
    assert [a for a, _ in actions(root)].count("promote") == 2  # staging, then production once
    assert Registry(root).resolve("churn@1").stage == "production"


def test_two_final_approvers_at_once_apply_it_once(gated: Registry, tmp_path: Path) -> None:
    root = gated.root
    rid = gated.request("churn@1", "production", reason="ready", actor="ada").id
    gated.approve(rid, actor="bob")
    results = _together(root, tmp_path, [["approve", rid, "--author", "carol"], ["approve", rid, "--author", "dave"]])
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 4], [r.stderr for r in results]
    loser = next(r for r in results if r.returncode == 4)
    assert "not open" in loser.stderr
    assert [a for a, _ in actions(root)].count("promote") == 2
    assert len(request_file(root, rid)["approvals"]) == 2


def test_one_approver_twice_at_once_counts_once(gated: Registry, tmp_path: Path) -> None:
    root = gated.root
    rid = gated.request("churn@1", "production", reason="ready", actor="ada").id
    results = _together(root, tmp_path, [["approve", rid, "--author", "bob"], ["approve", rid, "--author", "bob"]])
    assert sorted(r.returncode for r in results) == [0, 4]
    assert "already approved" in next(r for r in results if r.returncode == 4).stderr
    assert [a["by"] for a in request_file(root, rid)["approvals"]] == ["bob"]
    assert Registry(root).resolve("churn@1").stage == "staging"


# -- git: a request filed on one branch, approvals on two -------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    proc = subprocess.run(["git", *ident, *args], cwd=repo, env=env, capture_output=True, text=True, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_two_branches_approving_the_same_request_merge_through_the_audit_log(
    cli: Any, tmp_path: Path, make_file: Any
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    root = repo / "registry"
    ok(cli("init", root))
    add_policy(root, "[gates.production]\napprovals = 2")
    reg = Registry(root)
    model = make_file(tmp_path / "model.bin", b"weights")
    reg.register("churn", [model])
    rid = reg.request("churn@1", "production", reason="ready", actor="ada").id
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "request")
    # Bob approves on one branch, carol on another: each branch holds one of two approvals.
    _git(repo, "checkout", "-q", "-b", "bob")
    ok(cli("approve", rid, "--author", "bob", "-R", root))
    _git(repo, "commit", "-qam", "bob approves")
    _git(repo, "checkout", "-q", "main")
    ok(cli("approve", rid, "--author", "carol", "-R", root))
    _git(repo, "commit", "-qam", "carol approves")
    merge = _git(repo, "merge", "-q", "bob", check=False)
    # The audit log union-merges; the request file, changed on both sides, conflicts.
    conflicted = _git(repo, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert merge.returncode != 0 and conflicted == [f"registry/models/churn/requests/{rid}.yaml"]
    assert [e["action"] for e in audit(root)].count("approve") == 2
    # The documented resolution: keep both sides' approvals (the lines between the markers).
    path = root / "models" / "churn" / "requests" / f"{rid}.yaml"
    markers = ("<<<<<<<", "=======", ">>>>>>>")
    path.write_text("".join(line for line in path.read_text().splitlines(True) if not line.startswith(markers)))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "merge bob")
    listed = ok(cli("requests", "--json", "-R", root))["requests"]
    assert [(r["status"], sorted(r["approved_by"])) for r in listed] == [("open", ["bob", "carol"])]
    # Neither branch applied it; the approvals have met, so a promote applies it now.
    assert ok(cli("check", "churn@1", "production", "--json", "-R", root))["allowed"] is True
    data = ok(cli("promote", "churn@1", "production", "--json", "-R", root))
    assert data["request"] == rid and data["stage"] == "production"
    report = ok(cli("verify", "--json", "-R", root))
    assert report["ok"] is True, report


def test_a_request_filed_on_one_branch_and_approved_on_another_merges_cleanly(
    cli: Any, tmp_path: Path, make_file: Any
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    root = repo / "registry"
    ok(cli("init", root))
    add_policy(root, "[gates.production]\napprovals = 1")
    reg = Registry(root)
    reg.register("churn", [make_file(tmp_path / "model.bin", b"weights")])
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    _git(repo, "checkout", "-q", "-b", "review")
    rid = ok(cli("request", "churn@1", "production", "--reason", "ready", "--author", "ada", "--json", "-R", root))[
        "id"
    ]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "request")
    _git(repo, "checkout", "-q", "-b", "approval")
    ok(cli("approve", rid, "--author", "bob", "-R", root))
    _git(repo, "commit", "-qam", "approve")
    # Meanwhile on main: a register and an annotation of the same model.
    _git(repo, "checkout", "-q", "main")
    reg.register("churn", [make_file(tmp_path / "model2.bin", b"weights 2")])
    reg.annotate("churn", description="the churn model")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v2")
    merge = _git(repo, "merge", "-q", "approval", "-m", "merge", check=False)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = Registry(root)
    assert merged.resolve("churn@production").version == 1 and merged.resolve("churn@latest").version == 2
    assert [r.status for r in merged.requests("churn", include_closed=True)] == ["applied"]
    assert ok(cli("verify", "--json", "-R", root))["ok"] is True
