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
