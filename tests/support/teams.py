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
