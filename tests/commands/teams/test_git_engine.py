"""The git engine: claims are refs pushed to the registry repository's remote, and no program
that the repository's config names (a hook, a receive-pack command, an ssh command) ever runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from support.procs import run_modelreg
from support.teams import git

MARKER_SCRIPT = "#!/bin/sh\ntouch {marker}\nexit 0\n"


def registry_clone(tmp_path: Path) -> tuple[Path, Path]:
    bare, seed = tmp_path / "origin.git", tmp_path / "seed"
    git("init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    git("init", "-q", "-b", "main", seed, cwd=tmp_path)
    assert run_modelreg("init", seed).returncode == 0
    with open(seed / "modelreg.toml", "a") as fh:
        fh.write('\n[claims]\nengine = "git"\n')
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "registry", cwd=seed)
    git("remote", "add", "origin", bare, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    work = tmp_path / "work"
    git("clone", "-q", bare, work, cwd=tmp_path)
    return bare, work


def test_claims_are_refs_on_the_remote_and_never_move(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    bare, work = registry_clone(tmp_path)
    src = make_file(tmp_path / "m.bin", b"weights")
    numbers = [json.loads(run_modelreg("-R", work, "register", "churn", src, "--json").stdout)["version"] for _ in "ab"]
    assert numbers == [1, 2]
    refs = git("for-each-ref", "--format=%(refname) %(objecttype)", "refs/modelreg/", cwd=bare).split("\n")
    assert "refs/modelreg/claims/churn/1 blob" in refs and "refs/modelreg/claims/churn/2 blob" in refs
    first = git("rev-parse", "refs/modelreg/claims/churn/1", cwd=bare)
    # A plain push of another object to a claimed ref is refused by the remote.
    blob = tmp_path / "other"
    blob.write_text("not the claim")
    sha = git("hash-object", "-w", blob, cwd=work).strip()
    refused = subprocess.run(
        ["git", "push", "origin", f"{sha}:refs/modelreg/claims/churn/1"], cwd=work, capture_output=True, check=False
    )
    assert refused.returncode != 0
    assert git("rev-parse", "refs/modelreg/claims/churn/1", cwd=bare) == first


def test_no_program_from_the_repository_config_runs(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    _bare, work = registry_clone(tmp_path)
    marker = tmp_path / "ran"
    hook = work / ".git" / "hooks" / "pre-push"
    hook.write_text(MARKER_SCRIPT.format(marker=marker))
    hook.chmod(0o755)
    script = tmp_path / "evil.sh"
    script.write_text(MARKER_SCRIPT.format(marker=marker))
    script.chmod(0o755)
    git("config", "remote.origin.receivepack", f"{script}; git-receive-pack", cwd=work)
    git("config", "remote.origin.uploadpack", f"{script}; git-upload-pack", cwd=work)
    git("config", "core.sshCommand", str(script), cwd=work)
    done = run_modelreg("-R", work, "register", "churn", make_file(tmp_path / "m.bin", b"w"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 1
    assert run_modelreg("-R", work, "sync").returncode == 0
    assert not marker.exists()


def test_an_unreachable_git_remote_refuses_register(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    bare, work = registry_clone(tmp_path)
    bare.rename(tmp_path / "gone.git")
    done = run_modelreg("-R", work, "register", "churn", make_file(tmp_path / "m.bin", b"w"))
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "git claim engine" in done.stderr
    assert not (work / "models" / "churn").exists()


def test_remote_check_probes_the_git_remote(tmp_path: Path) -> None:
    bare, work = registry_clone(tmp_path)
    done = run_modelreg("-R", work, "remote", "check", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and {c["check"] for c in report["checks"]} >= {"create twice", "stale swap"}
    assert "refs/modelreg/claims/probe-" in git("for-each-ref", "refs/modelreg/", cwd=bare)
