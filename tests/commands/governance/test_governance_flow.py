"""Issue 13 on the command line: the new commands in --help and completion, log --action, and the
governance guide's end-to-end flow (examples/governance.sh) run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.results import ok_doc as ok

from modelreg import Registry

ROOT = Path(__file__).resolve().parents[3]
NEW = ("check", "request", "requests", "approve", "reject", "remove", "trust")


def test_help_lists_the_new_commands(cli: Any) -> None:
    text = cli("--help").stdout
    for name in NEW:
        assert f" {name} " in text, name


def test_completion_offers_the_new_commands(tmp_path: Path) -> None:
    Registry.init(tmp_path)
    env = {**os.environ, "COMP_WORDS": "modelreg re", "COMP_CWORD": "1", "_MODELREG_COMPLETE": "complete_bash"}
    proc = subprocess.run([sys.executable, "-m", "modelreg"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert {"register", "request", "requests", "reject", "remove"} <= set(proc.stdout.split())
    env.update(COMP_WORDS="modelreg check churn@1 pro", COMP_CWORD="3")
    proc = subprocess.run([sys.executable, "-m", "modelreg"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.stdout.split() == ["production"]


def test_log_filters_every_new_action_and_refuses_unknown_ones(cli: Any, reg_path: Path) -> None:
    for action in ("request", "approve", "reject", "remove"):
        assert ok(cli("log", "--action", action, "--json", "-R", reg_path))["entries"] == []
    result = cli("log", "--action", "approved", "-R", reg_path)
    assert result.exit_code == 2 and "request, approve, reject, remove" in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_example_promotion_flow_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "governance.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("governance flow OK")
    # The hooks ran (trusted once) and told the team about each move.
    assert "carol promote churn@1 staging -> production: first churn model" in proc.stdout
    assert "remove churn@3: trained on records under a deletion request" in proc.stdout
