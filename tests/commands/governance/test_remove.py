"""Issue 13: ``remove NAME@REF --reason`` retires a version for good: out of every stage and of
latest, its bytes garbage for gc, its manifest kept, shown as removed, audited."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.governance import actions, add_policy, audit, refused, register
from support.results import ok_doc as ok

from modelreg import Registry


@pytest.fixture
def reg(reg_path: Path, tmp_path: Path) -> Registry:
    """churn@1 archived, churn@2 in production, churn@3 in staging."""
    reg = Registry(reg_path)
    for _ in range(3):
        register(reg, tmp_path)
    reg.promote("churn@1", "production")
    reg.promote("churn@2", "production")
    reg.promote("churn@3", "staging")
    return reg


def test_a_removed_version_leaves_every_stage_and_latest(cli: Any, reg: Registry) -> None:
    root = reg.root
    manifest = (root / "models" / "churn" / "versions" / "2.yaml").read_bytes()
    data = ok(cli("remove", "churn@production", "--reason", "leaked personal data", "--json", "-R", root))
    assert data["version"] == 2 and data["changed"] is True and data["from_stage"] == "production"
    assert data["stage"] is None and data["removed"]["reason"] == "leaked personal data"
    assert data["removed"]["removed_by"] == "test-author" and data["removed"]["stage"] == "production"
    assert cli("get-production", "churn", "-R", root).exit_code == 3
    assert cli("show", "churn@production", "-R", root).exit_code == 3
    stages = ok(cli("list", "--json", "-R", root))["models"][0]["stages"]
    assert stages["production"] is None and stages["staging"] == [3] and stages["archived"] == [1]
    # The manifest stays for the history; show marks the version removed.
    assert (root / "models" / "churn" / "versions" / "2.yaml").read_bytes() == manifest
    shown = ok(cli("show", "churn@2", "--json", "-R", root))
    assert shown["stage"] is None and shown["removed"]["reason"] == "leaked personal data"
    assert [e["action"] for e in shown["history"]][-1] == "remove"
    assert "REMOVED" in ok(cli("show", "churn@2", "-R", root))
    assert "removed" in ok(cli("list", "churn", "-R", root)).splitlines()[2]
    versions = ok(cli("list", "churn", "--json", "-R", root))["versions"]
    assert [v["stage"] for v in versions] == ["archived", None, "staging"]
    # The entry, and log --action.
    entry = audit(root)[-1]
    assert (entry["action"], entry["version"], entry["from_stage"], entry["to_stage"]) == (
        "remove",
        2,
        "production",
        None,
    )
    logged = ok(cli("log", "churn", "--action", "remove", "--json", "-R", root))["entries"]
    assert [(e["version"], e["reason"]) for e in logged] == [(2, "leaked personal data")]
    # The removal is its own small file: model.yaml and stages.yaml are untouched by it.
    assert (root / "models" / "churn" / "removed.yaml").is_file()


def test_latest_skips_removed_versions(cli: Any, reg: Registry) -> None:
    root = reg.root
    ok(cli("remove", "churn@3", "--reason", "recall", "-R", root))
    assert ok(cli("show", "churn@latest", "--json", "-R", root))["version"] == 2
    assert ok(cli("show", "churn", "--json", "-R", root))["latest_version"] == 2
    assert ok(cli("list", "--json", "-R", root))["models"][0]["latest_version"] == 2
    ok(cli("remove", "churn@1", "--reason", "recall", "-R", root))
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", root))
    assert cli("show", "churn@latest", "-R", root).exit_code == 3
    # A new version gets the next number: numbers are never reused.
    model = reg.root.parent / "again.bin"
    model.write_text("new")
    assert ok(cli("register", "churn", model, "--json", "-R", root))["version"] == 4


def test_removing_needs_a_reason_and_an_explicit_version(cli: Any, reg: Registry) -> None:
    root = reg.root
    assert "needs --reason" in refused(cli("remove", "churn@1", "-R", root), code=2)
    assert "name the version" in refused(cli("remove", "churn", "--reason", "x", "-R", root), code=2)
    assert cli("remove", "churn@9", "--reason", "x", "-R", root).exit_code == 3
    ok(cli("remove", "churn@1", "--reason", "x", "-R", root))
    again = ok(cli("remove", "churn@1", "--reason", "x", "--json", "-R", root))
    assert again["changed"] is False
    assert [a for a, _ in actions(root)].count("remove") == 1


def test_a_removed_version_cannot_be_promoted_requested_or_served(cli: Any, reg: Registry, tmp_path: Path) -> None:
    root = reg.root
    ok(cli("remove", "churn@3", "--reason", "recall", "-R", root))
    line = refused(cli("promote", "churn@3", "production", "-R", root))
    assert "not removed (removed " in line and "recall" in line
    assert "--force never passes" in refused(cli("promote", "churn@3", "production", "--force", "-R", root))
    assert refused(cli("export", "churn@3", tmp_path / "out", "-R", root)).endswith("its files are not served")
    assert not (tmp_path / "out").exists()
    assert refused(cli("get", "churn@3", "--path", "-R", root)).endswith("its files are not served")
    result = cli("check", "churn@3", "production", "--json", "-R", root)
    assert result.exit_code == 4 and json.loads(result.stdout)["checks"][0]["rule"] == "not removed"


def test_removal_cancels_open_requests(cli: Any, reg: Registry) -> None:
    root = reg.root
    add_policy(root, "[gates.production]\napprovals = 1")
    rid = ok(cli("request", "churn@3", "production", "--reason", "r", "--author", "ada", "--json", "-R", root))["id"]
    data = ok(cli("remove", "churn@3", "--reason", "recall", "--json", "-R", root))
    assert data["cancelled"] == [rid] and audit(root)[-1]["requests"] == [rid]
    assert ok(cli("requests", "--all", "--json", "-R", root))["requests"][0]["status"] == "cancelled"
    assert "cancelled, not open" in refused(cli("approve", rid, "--author", "bob", "-R", root))


def test_rollback_never_brings_back_a_removed_version(cli: Any, reg: Registry) -> None:
    root = reg.root
    ok(cli("promote", "churn@3", "production", "-R", root))  # 1, 2, 3 held production in turn
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", root))
    assert ok(cli("rollback", "churn", "--json", "-R", root))["version"] == 1
    assert refused(cli("rollback", "churn", "--to", "2", "-R", root))


def test_gc_reclaims_the_bytes_of_a_removed_version_unless_a_live_version_shares_them(
    cli: Any, reg_path: Path, tmp_path: Path
) -> None:
    reg = Registry(reg_path)
    register(reg, tmp_path, content="recalled weights")
    register(reg, tmp_path, content="shared weights")
    register(reg, tmp_path, content="shared weights")
    blobs = {v.version: v.files[0].digest for v in reg.versions("churn")}
    ok(cli("remove", "churn@1", "--reason", "recall", "-R", reg_path))
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", reg_path))
    report = ok(cli("gc", "--grace", "0", "--json", "-R", reg_path))
    assert report["blobs_removed"] == [blobs[1]]
    assert not reg.blobs.exists(blobs[1]) and reg.blobs.exists(blobs[3])
    assert ok(cli("export", "churn@3", tmp_path / "out", "--json", "-R", reg_path))


def test_verify_passes_after_a_removed_version_is_collected(cli: Any, reg: Registry) -> None:
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", reg.root))
    ok(cli("gc", "--grace", "0", "-R", reg.root))
    assert ok(cli("verify", "--json", "-R", reg.root))["ok"] is True


def test_verify_passes_after_a_removal(cli: Any, reg: Registry) -> None:
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", reg.root))
    report = ok(cli("verify", "--json", "-R", reg.root))
    assert report["ok"] is True and report["findings"] == []


def test_a_removal_and_a_register_on_two_branches_merge_cleanly(cli: Any, reg: Registry, tmp_path: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
        return subprocess.run(["git", *ident, *args], cwd=reg.root, env=env, capture_output=True, text=True)

    assert git("init", "-q", "-b", "main").returncode == 0
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-q", "-b", "recall")
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", reg.root))
    git("commit", "-qam", "remove")
    git("add", "-A")
    git("commit", "-qm", "remove (new file)")
    git("checkout", "-q", "main")
    register(Registry(reg.root), tmp_path)
    git("add", "-A")
    git("commit", "-qm", "register 4")
    merge = git("merge", "-q", "recall", "-m", "merge")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = Registry(reg.root)
    assert merged.resolve("churn@latest").version == 4 and merged.resolve("churn@2").removed is not None
    assert ok(cli("verify", "--json", "-R", reg.root))["ok"] is True


def test_a_removed_version_loses_its_aliases_and_takes_no_new_one(cli: Any, reg: Registry) -> None:
    root = reg.root
    ok(cli("alias", "churn@2", "champion", "-R", root))
    ok(cli("alias", "churn@2", "eu-canary", "-R", root))
    ok(cli("alias", "churn@3", "challenger", "-R", root))
    data = ok(cli("remove", "churn@2", "--reason", "recall", "--json", "-R", root))
    assert data["aliases"] == [] and data["aliases_deleted"] == ["champion", "eu-canary"]
    assert audit(root)[-1]["aliases"] == ["champion", "eu-canary"]
    assert ok(cli("alias", "churn", "--json", "-R", root))["aliases"] == {"challenger": 3}
    assert cli("show", "churn@champion", "-R", root).exit_code == 3
    assert "was removed" in refused(cli("alias", "churn@2", "champion", "-R", root))
    # The history agrees: champion named version 2 until the removal, nothing after it.
    assert ok(cli("log", "churn", "--action", "remove", "--json", "-R", root))["entries"][0]["aliases"] == [
        "champion",
        "eu-canary",
    ]
    assert ok(cli("verify", "--json", "-R", root))["ok"] is True


def test_relative_references_skip_removed_versions(cli: Any, reg: Registry) -> None:
    root = reg.root
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", root))
    assert ok(cli("show", "churn@latest~1", "--json", "-R", root))["version"] == 1
    ok(cli("remove", "churn@3", "--reason", "recall", "-R", root))
    assert ok(cli("show", "churn@latest", "--json", "-R", root))["version"] == 1


def test_push_and_pull_leave_a_removed_version_alone(cli: Any, reg: Registry, tmp_path: Path) -> None:
    root = reg.root
    remote = tmp_path / "remote"
    remote.mkdir()
    text = (root / "modelreg.toml").read_text().replace("[remote]", f'[remote]\nurl = "{remote}"')
    (root / "modelreg.toml").write_text(text)
    ok(cli("remove", "churn@2", "--reason", "recall", "-R", root))
    pushed = ok(cli("push", "--json", "-R", root))
    assert pushed["transferred"] == 2  # versions 1 and 3 only
    names = {p.name for p in remote.rglob("*")}
    live, gone = (Registry(root).resolve(f"churn@{n}").files[0].digest.split(":")[1] for n in (3, 2))
    assert live in names and gone not in names
    assert "was removed" in refused(cli("push", "churn@2", "-R", root))
