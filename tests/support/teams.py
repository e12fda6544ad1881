"""Registries that claim their numbers on an engine, and processes racing across clones."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from support.procs import run_modelreg, script_cmd, start


def claims_toml(remote_url: str, endpoint_url: str | None = None, engine: str = "s3") -> str:
    lines = ["", "[claims]", f'engine = "{engine}"']
    if engine == "s3":
        lines[0:0] = [f'url = "{remote_url}"'] + ([f'endpoint_url = "{endpoint_url}"'] if endpoint_url else [])
    return "\n".join(lines) + "\n"


def init_claims_registry(root: Path, remote_url: str, endpoint_url: str | None = None) -> Path:
    """A new registry at ``root`` whose [remote] is ``remote_url`` and whose claims are made there."""
    done = run_modelreg("init", root)
    assert done.returncode == 0, done.stderr
    toml = root / "modelreg.toml"
    text = toml.read_text()
    extra = claims_toml(remote_url, endpoint_url)
    url_lines, claims = extra.split("\n[claims]")
    text = text.replace("[remote]\n", "[remote]\n" + url_lines.strip() + "\n", 1)
    toml.write_text(text + "\n[claims]" + claims)
    return root


def launch_together(commands: list[list[Any]], gate: Path) -> list[subprocess.Popen[str]]:
    """One process per command, all entering modelreg at the same instant (``procs.py barrier``)."""
    procs = [start(script_cmd("barrier", gate, *c)) for c in commands]
    deadline = time.monotonic() + 120
    while len(list(gate.parent.glob(f"{gate.name}.*.ready"))) < len(procs):
        assert time.monotonic() < deadline, "the processes never reached the barrier"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.01)
    gate.touch()
    return procs


def finish_json(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"exit {p.returncode}: {err}"
        results.append(json.loads(out))
    return results


GIT_ENV = {
    "GIT_AUTHOR_NAME": "ci",
    "GIT_AUTHOR_EMAIL": "ci@example.invalid",
    "GIT_COMMITTER_NAME": "ci",
    "GIT_COMMITTER_EMAIL": "ci@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}

# What each CI job runs after its register: commit, then the ordinary pull --rebase && push loop.
# A pull that stops on a conflict exits 3 at once: nobody is there to resolve it by hand.
PUBLISH_LOOP = """
set -u
git add -A && git commit -q -m "register $1" || exit 2
for attempt in $(seq 1 200); do
  if git pull -q --rebase origin main; then
    git push -q origin HEAD:main 2>/dev/null && exit 0
  else
    git status --porcelain | grep -q '^\\(UU\\|AA\\|DU\\|UD\\) ' && { git status; exit 3; }
    [ -d .git/rebase-merge ] || [ -d .git/rebase-apply ] && { git status; exit 3; }
  fi
done
exit 4
"""


def git(*args: Any, cwd: Path) -> str:
    import os

    done = subprocess.run(
        ["git", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout


def team_origin(
    tmp_path: Path, engine: str, remote_url: str, endpoint_url: str | None = None, *, push_on_register: bool = True
) -> Path:
    """A bare repository on local disk holding a fresh registry whose claims are made on ``engine``
    ("s3": the [remote] store at ``remote_url``; "git": the bare repository itself) and whose blobs
    go to ``remote_url``; returns the bare repository, ready for ``clone_of``."""
    bare, seed = tmp_path / "origin.git", tmp_path / "seed"
    git("init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    git("init", "-q", "-b", "main", seed, cwd=tmp_path)
    init_claims_registry(seed, remote_url, endpoint_url)
    toml = seed / "modelreg.toml"
    text = toml.read_text()
    if push_on_register:
        text = text.replace("push_on_register = false", "push_on_register = true")
    toml.write_text(text.replace('engine = "s3"', f'engine = "{engine}"'))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "a registry", cwd=seed)
    git("remote", "add", "origin", bare, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    return bare


def clone_of(bare: Path, where: Path) -> Path:
    git("clone", "-q", bare, where, cwd=bare.parent)
    return where


def publish_together(roots: list[Path]) -> None:
    """Every clone commits and runs the ``pull --rebase && push`` loop, all at once; each must end
    with its commit pushed (exit 3 of the loop: a pull stopped on a conflict)."""
    env: dict[str, str | None] = {**GIT_ENV}
    procs = [start(["bash", "-c", PUBLISH_LOOP, "publish", str(i)], env=env, cwd=root) for i, root in enumerate(roots)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"the publish loop ended with {proc.returncode} (3: a conflict): {out}{err}"


def publish(root: Path) -> subprocess.CompletedProcess[str]:
    """One clone commits and runs the ``pull --rebase && push`` loop; the loop's outcome."""
    import os

    return subprocess.run(
        ["bash", "-c", PUBLISH_LOOP, "publish", root.name],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def holds_every_version(root: Path, model: str, by_number: dict[int, str]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """After ``git pull``: the clone lists exactly ``by_number`` (number -> digest), fetches the
    files from the shared store, verifies with no error, and serves each version with ``get --path``
    (a folder of verified bytes). Returns verify's findings (warnings only) and the bytes served,
    one file per version, in number order."""
    listed = json.loads(run_modelreg("-R", root, "list", model, "--json").stdout)
    assert {v["version"]: v["digest"] for v in listed["versions"]} == by_number
    pulled = run_modelreg("-R", root, "pull")
    assert pulled.returncode == 0, pulled.stderr
    verified = run_modelreg("-R", root, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    findings: list[dict[str, Any]] = json.loads(verified.stdout)["findings"]
    assert [f for f in findings if f["severity"] != "warning"] == []
    served_bytes = []
    for number in sorted(by_number):
        served = run_modelreg("-R", root, "get", f"{model}@{number}", "--path")
        assert served.returncode == 0, served.stderr
        (only,) = [p for p in Path(served.stdout.strip()).iterdir() if p.is_file()]
        served_bytes.append(only.read_bytes())
    return findings, served_bytes
