"""Lineage captured at registration: author, time, git state, CI run, Python and platform."""

from __future__ import annotations

import getpass
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now_utc() -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-25T12:00:00.123456Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _git(cwd: Path, *args: str) -> str | None:
    try:
        # A repository's own config may name programs (an fsmonitor hook, a pager): none runs here.
        safe = ["-c", "core.fsmonitor=false", "-c", "core.pager=cat", "-c", "core.hooksPath=/dev/null"]
        out = subprocess.run(["git", *safe, *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def author(explicit: str | None = None, cwd: Path | None = None) -> str:
    """--author, else $MODELREG_AUTHOR, else git user.name, else the login name."""
    if explicit:
        return explicit
    env = os.environ.get("MODELREG_AUTHOR")
    if env:
        return env
    name = _git(cwd or Path.cwd(), "config", "user.name")
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def git_state(cwd: Path, registry: Path | None = None) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the work tree; the registry's own files (which every
    change rewrites) do not make it dirty."""
    found = _git(cwd, "rev-parse", "--show-toplevel", "HEAD")
    if found is None or len(found.splitlines()) != 2:
        return None
    top, commit = found.splitlines()
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    pathspec = [":(top)"]
    if registry is not None:
        try:
            inside = registry.resolve().relative_to(Path(top).resolve()).as_posix()
        except ValueError:
            inside = None
        if inside and inside != ".":
            pathspec.append(f":(top,exclude){inside}")
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no", "--", *pathspec)
    return {
        "commit": commit,
        "branch": None if branch in (None, "HEAD") else branch,
        "dirty": bool(status),
    }


def ci_run(env: dict[str, str] | None = None) -> dict[str, Any] | None:
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
        url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None
        return {"provider": "github-actions", "run_id": run_id, "url": url}
    if env.get("GITLAB_CI") == "true":
        return {
            "provider": "gitlab-ci",
            "run_id": env.get("CI_PIPELINE_ID") or env.get("CI_JOB_ID"),
            "url": env.get("CI_PIPELINE_URL") or env.get("CI_JOB_URL"),
        }
    return None


def capture(*, who: str, when: str, cwd: Path, datasets: list[str], registry: Path | None = None) -> dict[str, Any]:
    lineage: dict[str, Any] = {"author": who, "created_at": when, "datasets": list(datasets)}
    git = git_state(cwd, registry)
    if git is not None:
        lineage["git"] = git
    ci = ci_run()
    if ci is not None:
        lineage["ci"] = ci
    lineage["python"] = platform.python_version()
    lineage["platform"] = f"{platform.system().lower()}-{platform.machine()}"
    return lineage
