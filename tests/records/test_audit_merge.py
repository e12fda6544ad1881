"""Issue 3: a registry committed to git survives a union merge of two branches that both appended.

One repository holds the registry in a subdirectory; ``blobs/`` is git-ignored, so it stays on
disk across checkouts and serves every branch (as a shared remote store would).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from support.results import ok


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    if check:
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def jout(result: Any) -> Any:
    return json.loads(ok(result).stdout)


def entries(reg: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (reg / "audit.jsonl").read_bytes().splitlines()]


def head_id(reg: Path) -> str:
    return entries(reg)[-1]["id"]


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def verify_ok(cli: Any, run: Any, reg: Path, *, subprocess_too: bool = True) -> None:
    report = jout(cli("verify", "-R", reg, "--json"))
    assert report["ok"] is True and report["findings"] == [], report["findings"]
    if subprocess_too:
        proc = run("verify", "-R", reg)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def new_repo(cli: Any, tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    reg = repo / "registry"
    ok(cli("init", reg))
    assert git(repo, "check-attr", "merge", "registry/audit.jsonl").stdout.strip().endswith("merge: union")
    assert git(repo, "check-ignore", "-q", "registry/blobs/x", check=False).returncode == 0
    return repo, reg


def test_union_merge_of_two_branches_verifies_and_joins_heads(cli: Any, run: Any, tmp_path: Path) -> None:
    repo, reg = new_repo(cli, tmp_path)
    commit_all(repo, "base")
    base_lines = len(entries(reg))

    git(repo, "checkout", "-q", "-b", "branch-a")
    write_file(tmp_path / "in" / "a.bin", b"model a")
    ok(cli("register", "a", tmp_path / "in" / "a.bin", "-R", reg))
    ok(cli("promote", "a@1", "production", "--reason", "ship a", "-R", reg))
    assert "blobs" not in git(repo, "status", "--porcelain").stdout
    commit_all(repo, "model a")
    head_a = head_id(reg)

    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "branch-b")
    assert not (reg / "models" / "a").exists() and (reg / "blobs").is_dir()
    write_file(tmp_path / "in" / "b.bin", b"model b")
    # Branch b through real processes, run from inside the repository.
    assert run("register", "b", tmp_path / "in" / "b.bin", cwd=repo / "registry").returncode == 0
    assert run("promote", "b@1", "production", "-R", reg).returncode == 0
    commit_all(repo, "model b")
    head_b = head_id(reg)
    assert head_a != head_b

    merged = git(repo, "merge", "--no-edit", "branch-a", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "CONFLICT" not in merged.stdout
    assert git(repo, "status", "--porcelain").stdout == ""
    assert len(entries(reg)) == base_lines + 4

    verify_ok(cli, run, reg)
    models = {m["name"]: m for m in jout(cli("list", "-R", reg, "--json"))["models"]}
    assert set(models) == {"a", "b"}
    assert models["a"]["stages"]["production"] == 1 and models["b"]["stages"]["production"] == 1
    proc = run("list", "-R", reg)
    assert proc.returncode == 0 and "a" in proc.stdout.split() and "b" in proc.stdout.split()
    history = jout(cli("log", "-R", reg, "--json"))["entries"]
    assert sorted((e["action"], e["model"]) for e in history if e["model"]) == [
        ("promote", "a"),
        ("promote", "b"),
        ("register", "a"),
        ("register", "b"),
    ]

    # The first append after the merge joins both branch heads, like a merge commit.
    write_file(tmp_path / "in" / "c.bin", b"model c")
    ok(cli("register", "c", tmp_path / "in" / "c.bin", "-R", reg))
    joined = entries(reg)[-1]
    assert joined["action"] == "register" and sorted(joined["prev"]) == sorted([head_a, head_b])
    verify_ok(cli, run, reg)
    # ...and after that the log is a single chain again.
    ok(cli("promote", "c@1", "staging", "-R", reg))
    assert entries(reg)[-1]["prev"] == [joined["id"]]
    verify_ok(cli, run, reg, subprocess_too=False)
    commit_all(repo, "model c")


def test_register_and_promote_of_the_same_model_on_two_branches(cli: Any, run: Any, tmp_path: Path) -> None:
    repo, reg = new_repo(cli, tmp_path)
    write_file(tmp_path / "in" / "v1.bin", b"version one")
    write_file(tmp_path / "in" / "v2.bin", b"version two")
    ok(cli("register", "m", tmp_path / "in" / "v1.bin", "-R", reg))
    commit_all(repo, "base with m@1")

    git(repo, "checkout", "-q", "-b", "train")
    ok(cli("register", "m", tmp_path / "in" / "v2.bin", "-R", reg))
    commit_all(repo, "m@2")
    head_train = head_id(reg)

    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "release")
    ok(cli("promote", "m@1", "production", "--reason", "release 1", "-R", reg))
    commit_all(repo, "m@1 to production")
    head_release = head_id(reg)

    merged = git(repo, "merge", "--no-edit", "train", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "CONFLICT" not in merged.stdout

    verify_ok(cli, run, reg)
    (model,) = jout(cli("list", "-R", reg, "--json"))["models"]
    assert model["name"] == "m" and model["latest_version"] == 2
    assert model["stages"]["production"] == 1 and model["stages"]["development"] == [2]
    versions = {v["version"]: v["stage"] for v in jout(cli("list", "m", "-R", reg, "--json"))["versions"]}
    assert versions == {1: "production", 2: "development"}
    assert jout(cli("get-production", "m", "-R", reg, "--json"))["version"] == 1

    # Promote after the merge: the archive of m@1 is the entry that joins both heads.
    ok(cli("promote", "m@2", "production", "-R", reg))
    archive, promote = entries(reg)[-2:]
    assert (archive["action"], archive["version"], promote["action"]) == ("archive", 1, "promote")
    assert sorted(archive["prev"]) == sorted([head_train, head_release])
    assert promote["prev"] == [archive["id"]]
    verify_ok(cli, run, reg, subprocess_too=False)


def test_both_branches_registering_the_same_model_conflict_but_not_the_log(cli: Any, tmp_path: Path) -> None:
    repo, reg = new_repo(cli, tmp_path)
    write_file(tmp_path / "in" / "v1.bin", b"one")
    ok(cli("register", "m", tmp_path / "in" / "v1.bin", "-R", reg))
    commit_all(repo, "base")
    for branch, data in (("x", b"x"), ("y", b"y")):
        git(repo, "checkout", "-q", "main")
        git(repo, "checkout", "-q", "-b", branch)
        write_file(tmp_path / "in" / f"{branch}.bin", data)
        ok(cli("register", "m", tmp_path / "in" / f"{branch}.bin", "-R", reg))
        commit_all(repo, f"m@2 on {branch}")
    merged = git(repo, "merge", "--no-edit", "x", check=False)
    assert merged.returncode != 0 and "CONFLICT" in merged.stdout
    conflicted = git(repo, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert "registry/models/m/versions/2.yaml" in conflicted
    assert "registry/audit.jsonl" not in conflicted
    git(repo, "merge", "--abort")
