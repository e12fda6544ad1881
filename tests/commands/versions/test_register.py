"""register: stored bytes, directories and links, metrics, repeatable options, stages, names, lineage
and the version object."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot, write_file
from support.core import (
    VERSION_KEYS,
    Ctx,
    Outcome,
    assert_error,
    assert_version_object,
    blob_of,
    read_tree,
    sha,
)

from modelreg import Registry


def blob_files(reg: Path) -> list[Path]:
    return [p for p in (reg / "blobs").rglob("*") if p.is_file()]


BAD_NAMES = ["Bad Name", "../x", "a" * 101, "", "x/y"]


def name_commands(name: str, src: Path) -> list[list[Any]]:
    return [
        ["register", name, src],
        ["show", name],
        ["show", f"{name}@1"],
        ["promote", f"{name}@1", "staging"],
        ["get-production", name],
        ["list", name],
        ["annotate", name, "-d", "text"],
        ["annotate", f"{name}@latest", "--tag", "k=v"],
    ]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.parametrize("name", BAD_NAMES, ids=["space-upper", "dotdot", "101-chars", "empty", "slash"])
def test_bad_names_refused_and_nothing_changes(cli: Any, run: Any, reg_path: Path, tmp_path: Path, name: str) -> None:
    Ctx(reg_path, tmp_path).seed()
    src = write_file(tmp_path / "model.bin", b"new bytes")
    before = snapshot(tmp_path)
    for args in name_commands(name, src):
        for json_mode in (False, True):
            full = [*args, "-R", reg_path, *(["--json"] if json_mode else [])]
            r = cli(*full)
            message = assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=json_mode)
            assert "lowercase" in message and "100" in message, message
    proc = run("register", name, src, "-R", reg_path)
    assert_error(Outcome(proc.returncode, proc.stdout, proc.stderr), 2, json_mode=False)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "x").exists() and not (reg_path / "x").exists()


def test_name_of_100_characters_is_accepted(cli: Any, reg_path: Path, make_file: Any) -> None:
    name = "a" * 98 + ".9"
    out = cli("register", name, make_file("m.bin", b"x"), "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["name"] == name


def test_same_bytes_registered_three_times_occupy_one_blob(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    a = write_file(tmp_path / "a" / "model.bin", data)
    b = write_file(tmp_path / "b" / "renamed.bin", data)
    digests = []
    for name, src in (("m", a), ("m", b), ("other", a)):
        out = cli("register", name, src, "-R", reg_path, "--json")
        assert out.exit_code == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["files"][0]["digest"] == sha(data)
        digests.append(doc["digest"])
    blobs = blob_files(reg_path)
    assert len(blobs) == 1
    assert blobs[0].name == hashlib.sha256(data).hexdigest() and blobs[0].read_bytes() == data
    # The version digest names the file set: same path and bytes -> same digest; another path -> another.
    assert digests[0] == digests[2] != digests[1]


def test_version_object_fields(cli: Any, reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    src = make_file(tmp_path / "model.onnx", 1234)
    before = datetime.now(UTC)
    out = cli(
        "register",
        "m",
        src,
        "-m",
        "auc=0.91",
        "-m",
        "epochs=12",
        "-p",
        "lr=0.01",
        "-t",
        "team=ml",
        "--description",
        "first cut",
        "--dataset",
        "s3://data/train.csv",
        "-R",
        reg_path,
        "--json",
    )
    assert out.exit_code == 0, out.stderr
    v = json.loads(out.stdout)
    assert_version_object(v, "m", 1)
    created = datetime.fromisoformat(v["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert v["metrics"] == {"auc": 0.91, "epochs": 12}
    assert type(v["metrics"]["epochs"]) is int
    assert v["params"] == {"lr": "0.01"} and v["tags"] == {"team": "ml"}
    assert v["description"] == "first cut"
    assert v["lineage"]["datasets"] == ["s3://data/train.csv"]
    assert "git" not in v["lineage"] or v["lineage"]["git"] is None, "not inside a git repository"
    assert "ci" not in v["lineage"] or v["lineage"]["ci"] is None, "no CI environment"
    assert [(f["path"], f["size"], f["digest"]) for f in v["files"]] == [("model.onnx", 1234, sha(src.read_bytes()))]
    shown = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)
    assert {k: shown[k] for k in VERSION_KEYS} == {k: v[k] for k in VERSION_KEYS}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_lineage_records_git_state(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "checkout", "-q", "-b", "feature/x")
    write_file(repo / "train.py", "print('train')\n")
    write_file(repo / "model.bin", b"weights")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "initial")
    head = _git(repo, "rev-parse", "HEAD")

    with contextlib.chdir(repo):
        out = cli("register", "m", "model.bin", "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["lineage"]["git"] == {"commit": head, "branch": "feature/x", "dirty": False}

    write_file(repo / "train.py", "print('changed')\n")  # a tracked file with uncommitted changes
    proc = run("register", "m", "model.bin", "-R", reg_path, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["lineage"]["git"] == {"commit": head, "branch": "feature/x", "dirty": True}


def test_lineage_records_ci_run(cli: Any, reg_path: Path, make_file: Any) -> None:
    src = make_file("m.bin", b"x")
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    out = cli("register", "m", src, "-R", reg_path, "--json", env=github)
    assert out.exit_code == 0, out.stderr
    ci = json.loads(out.stdout)["lineage"]["ci"]
    assert set(ci) >= {"provider", "run_id", "url"}
    assert "github" in ci["provider"].lower()
    assert str(ci["run_id"]) == "4242"
    assert ci["url"] == "https://github.com/acme/models/actions/runs/4242"
    gitlab = {"GITLAB_CI": "true", "CI_PIPELINE_ID": "77", "CI_PIPELINE_URL": "https://gitlab.example/p/-/pipelines/77"}
    out = cli("register", "m", src, "-R", reg_path, "--json", env=gitlab)
    ci = json.loads(out.stdout)["lineage"]["ci"]
    assert "gitlab" in ci["provider"].lower() and str(ci["run_id"]) == "77"
    assert ci["url"] == "https://gitlab.example/p/-/pipelines/77"


def test_register_directories_keep_relative_paths(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    tree = {"model.bin": b"m", "tokenizer/vocab.txt": b"a\nb\n", "tokenizer/merges/rules.txt": b"r"}
    for rel, data in tree.items():
        write_file(tmp_path / "export" / rel, data)
    extra = write_file(tmp_path / "README.md", b"# card")
    out = cli("register", "m", tmp_path / "export", extra, "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    files = {f["path"]: (f["size"], f["digest"]) for f in json.loads(out.stdout)["files"]}
    expected = {**tree, "README.md": b"# card"}
    assert files == {rel: (len(d), sha(d)) for rel, d in expected.items()}
    Registry.open(reg_path).promote("m@1", "production")
    assert cli("get-production", "m", "-o", tmp_path / "got", "-R", reg_path).exit_code == 0
    assert read_tree(tmp_path / "got") == expected


def test_register_symlinks(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    data = os.urandom(4096)
    target = write_file(tmp_path / "real" / "weights-v7.bin", data)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.bin").symlink_to(target)
    (tmp_path / "single.bin").symlink_to(target)
    out = cli("register", "m", tmp_path / "single.bin", bundle, "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    files = {f["path"]: (f["size"], f["digest"]) for f in json.loads(out.stdout)["files"]}
    assert files == {"single.bin": (4096, sha(data)), "model.bin": (4096, sha(data))}
    stored = blob_of(reg_path, sha(data))
    assert not stored.is_symlink() and stored.read_bytes() == data
    target.write_bytes(b"changed later")  # the registry kept the bytes, not the link
    Registry.open(reg_path).promote("m@1", "production")
    dest = tmp_path / "got"
    assert cli("get-production", "m", "-o", dest, "-R", reg_path).exit_code == 0
    assert not (dest / "model.bin").is_symlink()
    assert read_tree(dest) == {"single.bin": data, "model.bin": data}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_register_metrics_file(cli: Any, reg_path: Path, make_file: Any, fmt: str) -> None:
    text = '{"accuracy": 0.93, "f1": 0.9, "n": 10}' if fmt == "json" else "accuracy: 0.93\nf1: 0.9\nn: 10\n"
    mfile = make_file(f"metrics.{fmt}", text)
    out = cli(
        "register", "m", make_file("m.bin", b"x"), "--metrics-file", mfile, "-m", "loss=0.1", "-R", reg_path, "--json"
    )
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["metrics"] == {"accuracy": 0.93, "f1": 0.9, "n": 10, "loss": 0.1}
    bad = make_file(f"bad.{fmt}", '{"accuracy": "high"}' if fmt == "json" else "accuracy: high\n")
    out = cli("register", "m", make_file("m.bin", b"x"), "--metrics-file", bad, "-R", reg_path)
    assert out.exit_code == 2 and "accuracy" in out.stderr


def test_register_repeatable_options_and_stage(cli: Any, reg_path: Path, make_file: Any) -> None:
    out = cli(
        "register",
        "m",
        make_file("m.bin", b"x"),
        "--param",
        "lr=0.1",
        "--param",
        "depth=6",
        "--tag",
        "team=ml",
        "--tag",
        "task=churn",
        "--dataset",
        "train.csv",
        "--dataset",
        "s3://b/val.csv",
        "--stage",
        "staging",
        "-R",
        reg_path,
        "--json",
    )
    assert out.exit_code == 0, out.stderr
    v = json.loads(out.stdout)
    assert v["params"] == {"lr": "0.1", "depth": "6"}
    assert v["tags"] == {"team": "ml", "task": "churn"}
    assert v["lineage"]["datasets"] == ["train.csv", "s3://b/val.csv"]
    assert v["stage"] == "staging"
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages["staging"] == [1] and stages["development"] == []
    assert json.loads(cli("show", "m@staging", "-R", reg_path, "--json").stdout)["version"] == 1


def test_register_into_exclusive_stage_archives_holder(cli: Any, reg_path: Path, make_file: Any) -> None:
    for content in (b"1", b"2"):
        out = cli("register", "m", make_file("m.bin", content), "--stage", "production", "-R", reg_path)
        assert out.exit_code == 0, out.stderr
    versions = json.loads(cli("list", "m", "-R", reg_path, "--json").stdout)["versions"]
    assert [(v["version"], v["stage"]) for v in versions] == [(1, "archived"), (2, "production")]
