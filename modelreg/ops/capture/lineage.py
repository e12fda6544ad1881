"""Lineage captured at registration: author, time, git state, CI run, Python and platform."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError


def now_utc() -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-25T12:00:00.123456Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Settings that name a program git would run, whatever a repository's own config says: an
# fsmonitor hook, hooks (post-index-change), a pager, an editor, ssh, askpass, credential helpers,
# an external diff, signing. Command-line settings (``-c``) win over every config file.
_NO_PROGRAMS = {
    "core.fsmonitor": "false",
    "core.hooksPath": "/dev/null",
    "core.pager": "cat",
    "core.editor": "true",
    "sequence.editor": "true",
    "core.sshCommand": "",
    "core.askPass": "",
    "core.alternateRefsCommand": "",
    "credential.helper": "",
    "diff.external": "",
    "gpg.program": "",
    "gpg.ssh.program": "",
    "gpg.x509.program": "",
}
# Per-driver settings that name a program: filter drivers (run by ``git status`` on any file
# whose stat changed), diff drivers and merge drivers.
_DRIVER_PROGRAMS = {
    "filter": {"clean": "", "smudge": "", "process": "", "required": "false"},
    "diff": {"textconv": "", "command": ""},
    "merge": {"driver": ""},
}


def _neutralised(cwd: Path) -> list[str] | None:
    """``-c`` options that switch off every program the repository's config (includes followed)
    names; None when the config cannot be read (then git is not run at all)."""
    fixed = [arg for key, value in _NO_PROGRAMS.items() for arg in ("-c", f"{key}={value}")]
    try:
        out = subprocess.run(
            ["git", *fixed, "config", "--list", "--name-only", "-z"], cwd=cwd, capture_output=True, timeout=10,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return fixed if not out.stdout else None  # no repository (or no config): nothing to switch off
    drivers: set[tuple[str, str]] = set()
    for key in out.stdout.decode("utf-8", "surrogateescape").split("\0"):
        section, _, rest = key.partition(".")
        subsection, _, _ = rest.rpartition(".")
        if section.lower() in _DRIVER_PROGRAMS and subsection:
            drivers.add((section.lower(), subsection))
    for section, subsection in sorted(drivers):
        for var, value in _DRIVER_PROGRAMS[section].items():
            fixed += ["-c", f"{section}.{subsection}.{var}={value}"]
    return fixed


def _git(cwd: Path, *args: str, safe: list[str] | None = None) -> str | None:
    """Run a git command that reads the repository holding ``cwd``; no program its config names
    (a filter driver's clean command, an fsmonitor, a hook) ever runs: the repository may be a
    project unpacked with its .git/ from anywhere. ``safe``: the options ``_neutralised`` gave
    for this ``cwd`` (worked out here when not given)."""
    safe = _neutralised(cwd) if safe is None else safe
    if safe is None:
        return None
    try:
        out = subprocess.run(["git", *safe, *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def ci_actor(env: dict[str, str] | None = None) -> str | None:
    """The person a CI run acts for: GitHub Actions' ``GITHUB_ACTOR``, GitLab CI's ``GITLAB_USER_LOGIN``."""
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_ACTOR"):
        return env["GITHUB_ACTOR"]
    if env.get("GITLAB_CI") == "true" and env.get("GITLAB_USER_LOGIN"):
        return env["GITLAB_USER_LOGIN"]
    return None


MAX_IDENTITY = 200


def identity(value: str, source: str) -> str:
    """An identity as it is recorded: surrounding blanks dropped; blank, over 200 characters or
    holding a control character (a newline, a terminal escape) is refused, since it is shown to
    reviewers and compared with others."""
    from modelreg.records.identities import has_invisible

    value = value.strip()
    if not value or len(value) > MAX_IDENTITY or any(ch < " " or ch == "\x7f" for ch in value):
        raise UsageError(
            f"invalid identity from {source}: 1 to {MAX_IDENTITY} characters, no control characters",
            code="invalid_input",
        )
    if has_invisible(value):
        # Invisible characters would let one person pass for another (see records/identities.py).
        raise UsageError(
            f"invalid identity from {source}: it holds invisible (format or default-ignorable) characters",
            code="invalid_input",
        )
    return value


def author(explicit: str | None = None, cwd: Path | None = None) -> str:
    """--author, else $MODELREG_AUTHOR, else the CI's actor, else git user.name, else the login name."""
    if explicit is not None:
        return identity(explicit, "--author")
    env = os.environ.get("MODELREG_AUTHOR")
    if env:
        return identity(env, "$MODELREG_AUTHOR")
    actor = ci_actor()
    if actor:
        return identity(actor, "the CI's actor")
    name = _git(cwd or Path.cwd(), "config", "user.name")
    if name:
        return identity(name, "git user.name")
    try:
        return identity(getpass.getuser(), "the login name")
    except (OSError, KeyError):
        return "unknown"


def input_dir(inputs: Sequence[Path]) -> Path | None:
    """The directory of the first input: where its git repository, if any, is found."""
    if not inputs:
        return None
    first = Path(os.path.abspath(inputs[0]))
    return first if first.is_dir() else first.parent


def _inside(path: Path, top: Path) -> str | None:
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        try:
            rel = candidate.relative_to(top).as_posix()
        except ValueError:
            continue
        return rel if rel != "." else None
    return None


def _may_be_in_a_work_tree(cwd: Path) -> bool:
    """False when git could not find a work tree from ``cwd``: no ``$GIT_DIR`` and no ``.git``
    (a directory, or a file naming one) in it or above it. Two git processes fewer for each
    place looked at (most registers outside a repository look at two); anything else asks git."""
    if os.environ.get("GIT_DIR"):
        return True
    try:
        here = cwd.resolve()
    except (OSError, RuntimeError):
        return True
    return any(os.path.lexists(place / ".git") for place in (here, *here.parents))


def git_state(cwd: Path, registry: Path | None = None, inputs: Sequence[Path] = ()) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the repository holding ``cwd``. Uncommitted changes to
    tracked files make it dirty, and so do untracked files (``untracked`` then says so). The
    registry's own files (which every change rewrites) never count, nor do untracked inputs:
    the version records their bytes itself (a tracked input that was edited does count)."""
    if not _may_be_in_a_work_tree(cwd):
        return None
    safe = _neutralised(cwd)
    if safe is None:
        return None
    # One process for the top, the commit and the branch ("HEAD" when detached).
    found = _git(cwd, "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD", safe=safe)
    if found is None or len(found.splitlines()) != 3:
        return None
    top_text, commit, branch = found.splitlines()
    top = Path(top_text).resolve()

    def excluding(paths: Iterable[Path]) -> list[str]:
        spec = [":(top)"]
        for path in paths:
            inside = _inside(path, top)
            if inside:
                spec.append(f":(top,exclude,literal){inside}")
        return spec

    own = [registry] if registry is not None else []
    # Submodules: their commits count, their work trees are not entered (their own config could
    # name programs this process never saw).
    changed = _git(
        cwd,
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--ignore-submodules=dirty",
        "--",
        *excluding(own),
        safe=safe,
    )
    untracked = _git(cwd, "ls-files", "--others", "--exclude-standard", "--", *excluding([*own, *inputs]), safe=safe)
    state: dict[str, Any] = {
        "commit": commit,
        "branch": None if branch == "HEAD" else branch,
        "dirty": bool(changed) or bool(untracked),
    }
    if untracked:
        state["untracked"] = True
    return state


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


def capture(
    *,
    who: str,
    when: str,
    cwd: Path | None,
    datasets: list[str],
    registry: Path | None = None,
    inputs: Sequence[Path] = (),
) -> dict[str, Any]:
    """The lineage of a new version. The git state is that of ``cwd`` when given, else of the
    repository holding the first input, else of the registry's: never of wherever the process runs."""
    lineage: dict[str, Any] = {"author": who, "created_at": when, "datasets": list(datasets)}
    places = [cwd] if cwd is not None else [input_dir(inputs), registry]
    for place in places:
        git = git_state(place, registry, inputs) if place is not None else None
        if git is not None:
            lineage["git"] = git
            break
    ci = ci_run()
    if ci is not None:
        lineage["ci"] = ci
    lineage["python"] = python_version()
    system = os.uname()  # what platform.system() and .machine() read on POSIX, without importing it
    lineage["platform"] = f"{system.sysname.lower()}-{system.machine}"
    return lineage


def python_version() -> str:
    """``platform.python_version()`` (``3.11.7``, ``3.14.0rc1``), read as it reads it: the first
    word of ``sys.version``, with a patch level of 0 added where there is none."""
    version = sys.version.split()[0]
    return version + ".0" if version.count(".") == 1 else version
