"""What the README and the guides tell a user to run works: the round trip of the first set-up
line, installs that name where modelreg is, and the global options on every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from modelreg.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)


def test_no_install_from_an_index_that_does_not_have_it() -> None:
    blocks = [block for page in PAGES for block in code_blocks(page.read_text())]
    assert any("pip install" in block for block in blocks)
    for block in blocks:
        for line in block.splitlines():
            by_name = re.match(r"\s*(- run: )?pip install '?modelreg(\[\w+\])?'?(\s|$)", line)
            assert not by_name or " @ " in line, line  # a path or a git URL until it is published


def test_the_round_trip_of_the_first_line_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MODELREG_REGISTRY", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "roundtrip.sh")], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "round trip OK" in proc.stdout


def test_every_command_takes_the_global_options() -> None:
    group = typer.main.get_command(app)
    for name in COMMANDS:
        opts = {o for p in group.commands[name].params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
        assert {"--json", "-R", "-q"} <= opts, name
