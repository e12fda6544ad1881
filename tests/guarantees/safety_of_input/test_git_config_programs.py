"""``register`` reads the git state of the project for lineage, and the project may have come with
its .git/ from anywhere: no program its git config names (a filter driver's clean command, an
fsmonitor, a hook, including through ``include.path``) ever runs, while dirtiness is still told."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, check=True,
    )  # fmt: skip


def project(tmp_path: Path) -> Path:
    """A committed project whose tracked files go through the filter driver ``evil``."""
    proj = tmp_path / "proj"
    proj.mkdir()
    git(proj, "init", "-q")
    (proj / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (proj / "model.bin").write_text("weights\n")
    (proj / "train.py").write_text("print('train')\n")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "project")
    return proj


def planted(marker: Path, what: str) -> str:
    return f"sh -c 'echo {what} >> {marker}; cat'"


def how(proj: Path, marker: Path, via: str) -> None:
    """Plant programs in the project's git config, directly or through an included file."""
    settings = {
        "filter.evil.clean": planted(marker, "clean"),
        "filter.evil.smudge": planted(marker, "smudge"),
        "filter.evil.process": planted(marker, "process"),
        "filter.evil.required": "true",
        "diff.evil.textconv": planted(marker, "textconv"),
        "core.fsmonitor": f"echo fsmonitor >> {marker}; true",
        "core.hooksPath": str(proj / "hooks"),
    }
    hooks = proj / "hooks"
    hooks.mkdir()
    for name in ("post-index-change", "post-checkout", "pre-commit"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\n")
        (hooks / name).chmod(0o755)
    if via == "config":
        for key, value in settings.items():
            git(proj, "config", key, value)
    else:
        included = proj / "extra.gitconfig"
        for key, value in settings.items():
            subprocess.run(["git", "config", "-f", str(included), key, value], check=True)
        git(proj, "config", "include.path", str(included))
        git(proj, "config", f"includeIf.gitdir:{proj}/.git.path", str(included))


@pytest.mark.parametrize("via", ["config", "include.path"])
def test_no_program_from_a_projects_git_config_runs(run: Any, reg_path: Path, tmp_path: Path, via: str) -> None:
    proj = project(tmp_path)
    marker = tmp_path / "ran.txt"
    how(proj, marker, via)
    # Make git look at the files again: a changed mtime sends every one through the clean filter.
    for name in ("model.bin", "train.py"):
        os.utime(proj / name, (1_000_000, 1_000_000))
    done = run("register", "churn", proj / "model.bin", "--json", "-R", reg_path, cwd=proj)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), marker.read_text()
    git_state = json.loads(done.stdout)["lineage"]["git"]
    assert git_state["dirty"] is True  # extra.gitconfig / hooks/ are untracked: still told

    # A clean project is told clean, a tracked file edited is told dirty, and nothing runs.
    quiet = ["-c", "filter.evil.clean=cat", "-c", "filter.evil.process=", "-c", "filter.evil.required=false",
             "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]  # fmt: skip
    git(proj, *quiet, "add", "-A")
    git(proj, *quiet, "commit", "-qm", "more")
    marker.unlink(missing_ok=True)
    os.utime(proj / "train.py", (2_000_000, 2_000_000))
    done = run("register", "churn", proj / "model.bin", "--json", "-R", reg_path, cwd=proj)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lineage"]["git"]["dirty"] is False
    (proj / "train.py").write_text("print('edited')\n")
    done = run("register", "churn", proj / "model.bin", "--json", "-R", reg_path, cwd=proj)
    assert json.loads(done.stdout)["lineage"]["git"]["dirty"] is True
    assert not marker.exists(), marker.read_text()
