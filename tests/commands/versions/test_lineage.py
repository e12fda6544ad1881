"""Issue 12: lineage from the repository that holds the inputs, untracked files, CI actors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(["git", *env_args, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def project(path: Path, branch: str) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "checkout", "-q", "-b", branch)
    (path / "train.py").write_text("print('train')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def two_repos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A training repository with the model, another repository to run from, and a registry."""
    training = project(tmp_path / "training", "train-branch")
    (training / "out").mkdir()
    (training / "out" / "model.bin").write_bytes(b"weights")  # untracked: the output of training
    elsewhere = project(tmp_path / "ops", "ops-branch")
    (elsewhere / "notes.txt").write_text("untracked here")
    root = tmp_path / "reg"
    Registry.init(root)
    return training, elsewhere, root


def test_git_state_comes_from_the_inputs_repository(two_repos: tuple[Path, Path, Path], run: Any) -> None:
    training, elsewhere, root = two_repos
    proc = run("register", "m", training / "out" / "model.bin", "-R", root, "--json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    lineage = json.loads(proc.stdout)["lineage"]
    head = git(training, "rev-parse", "HEAD")
    # The untracked model itself does not make the repository dirty; the ops repository's
    # untracked notes (where the command ran) have nothing to do with it.
    assert lineage["git"] == {"commit": head, "branch": "train-branch", "dirty": False}


def test_untracked_files_make_it_dirty(two_repos: tuple[Path, Path, Path], run: Any) -> None:
    training, elsewhere, root = two_repos
    (training / "features.py").write_text("# not committed yet\n")
    proc = run("register", "m", training / "out", "-R", root, "--json", cwd=elsewhere)
    git_state = json.loads(proc.stdout)["lineage"]["git"]
    assert git_state["dirty"] is True and git_state["untracked"] is True
    assert git_state["branch"] == "train-branch"
    (training / ".gitignore").write_text("features.py\n")
    git(training, "add", ".gitignore")
    git(training, "commit", "-q", "-m", "ignore")
    proc = run("register", "m", training / "out", "-R", root, "--json", cwd=elsewhere)
    git_state = json.loads(proc.stdout)["lineage"]["git"]
    assert git_state["dirty"] is False and "untracked" not in git_state  # ignored files do not count


def test_an_edited_tracked_input_is_dirty(two_repos: tuple[Path, Path, Path], run: Any) -> None:
    training, elsewhere, root = two_repos
    (training / "train.py").write_text("print('changed')\n")
    proc = run("register", "m", training / "train.py", training / "out", "-R", root, "--json", cwd=elsewhere)
    git_state = json.loads(proc.stdout)["lineage"]["git"]
    assert git_state["dirty"] is True and "untracked" not in git_state


def test_inputs_outside_any_repository_take_the_registrys(tmp_path: Path, run: Any) -> None:
    models_repo = project(tmp_path / "models-repo", "main")
    Registry.init(models_repo / "registry")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "model.bin").write_bytes(b"w")
    proc = run("register", "m", loose / "model.bin", "-R", models_repo / "registry", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    git_state = json.loads(proc.stdout)["lineage"]["git"]
    # The registry's own new files (models/, audit.jsonl) never make it dirty.
    assert git_state == {"commit": git(models_repo, "rev-parse", "HEAD"), "branch": "main", "dirty": False}
    # No repository anywhere: no git state, whatever the working directory is.
    lone = tmp_path / "lone-reg"
    Registry.init(lone)
    proc = run("register", "m", loose / "model.bin", "-R", lone, "--json", cwd=models_repo)
    assert "git" not in json.loads(proc.stdout)["lineage"]


def test_the_library_finds_the_same_repository(two_repos: tuple[Path, Path, Path]) -> None:
    training, _, root = two_repos
    v, _ = Registry(root).register("m", [training / "out" / "model.bin"])
    assert v.lineage["git"]["branch"] == "train-branch"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octo-dev"}, "octo-dev"),
        ({"GITLAB_CI": "true", "GITLAB_USER_LOGIN": "gl-dev"}, "gl-dev"),
        ({"GITHUB_ACTOR": "not-in-ci"}, "login"),  # outside GitHub Actions the variable means nothing
    ],
)
def test_ci_actor_is_the_default_author(env: dict[str, str], expected: str, run: Any, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    Registry.init(root)
    (tmp_path / "w.bin").write_bytes(b"w")
    full = {**env, "MODELREG_AUTHOR": None, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    proc = run("register", "m", tmp_path / "w.bin", "-R", root, "--json", env=full)
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)
    import getpass

    assert v["created_by"] == (getpass.getuser() if expected == "login" else expected)
    # An explicit --author and $MODELREG_AUTHOR still come first.
    proc = run("register", "m", tmp_path / "w.bin", "-R", root, "--json", "--author", "ada", env=full)
    assert json.loads(proc.stdout)["created_by"] == "ada"
    proc = run("register", "m", tmp_path / "w.bin", "-R", root, "--json", env={**full, "MODELREG_AUTHOR": "grace"})
    assert json.loads(proc.stdout)["created_by"] == "grace"
    # The CI's actor also signs promotions.
    proc = run("promote", "m@1", "staging", "-R", root, "--json", env=full)
    entries = json.loads(run("log", "m", "-R", root, "--json").stdout)["entries"]
    assert entries[-1]["actor"] == v["created_by"]


def test_git_is_asked_about_a_work_tree_only_where_one_can_be(
    tmp_path: Path, two_repos: tuple[Path, Path, Path]
) -> None:
    """Outside any repository (no .git at or above the inputs and the registry, no $GIT_DIR) no
    git process reads a repository's state; inside one, the state is still recorded. A git on
    PATH that logs each call before running the real one says which calls were made."""
    import os
    import sys

    training, _, _ = two_repos
    log = tmp_path / "git-calls.log"
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MODELREG_"))}
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    outside = tmp_path / "outside"
    outside.mkdir()
    Registry.init(outside / "reg")
    (outside / "model.bin").write_bytes(b"w")
    command = [sys.executable, "-m", "modelreg", "register", "m", "--json"]
    done = subprocess.run(
        [*command, str(outside / "model.bin"), "-R", str(outside / "reg")],
        capture_output=True, text=True, env=env, cwd=outside, check=True,
    )  # fmt: skip
    assert "git" not in json.loads(done.stdout)["lineage"]
    assert all("rev-parse" not in call for call in log.read_text().splitlines())  # only user.name was asked
    log.unlink()
    inside = subprocess.run(
        [*command, str(training / "out" / "model.bin"), "-R", str(outside / "reg")],
        capture_output=True, text=True, env=env, cwd=outside, check=True,
    )  # fmt: skip
    assert json.loads(inside.stdout)["lineage"]["git"]["branch"] == "train-branch"
    assert any("rev-parse" in call for call in log.read_text().splitlines())


def test_python_and_platform_are_what_the_platform_module_says(tmp_path: Path) -> None:
    """Read without importing ``platform`` (1.6 ms of every register), yet the same values."""
    import platform

    from modelreg.ops.capture.lineage import python_version

    Registry.init(tmp_path / "reg")
    (tmp_path / "model.bin").write_bytes(b"w")
    version = Registry.open(tmp_path / "reg").register("m", [tmp_path / "model.bin"], author="t").version
    assert python_version() == platform.python_version()
    assert version.lineage["python"] == platform.python_version()
    assert version.lineage["platform"] == f"{platform.system().lower()}-{platform.machine()}"
