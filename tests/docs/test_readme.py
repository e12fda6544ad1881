"""Issue 12: the README's set-up lines and claims are true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from modelreg.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)


def test_the_two_set_up_lines() -> None:
    first, second = code_blocks(README)[0].strip().splitlines()
    assert "[test]" not in first and "roundtrip.sh" in first, "trying the tool needs no test tools"
    assert "pip install" in first and "modelreg" not in first.split("pip install", 1)[1].split("&&")[0]
    assert "[test]" in second and "pytest" in second
    intro = README.split("```", 3)[2]
    assert re.search(r"about \d+ minutes", intro), "the test command says how long it takes"


def test_no_install_from_an_index_that_does_not_have_it() -> None:
    for block in code_blocks(README):
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


def test_every_command_takes_what_the_readme_says() -> None:
    assert "Every command takes `--json`" in README and "before or after the command name" in README
    group = typer.main.get_command(app)
    for name in COMMANDS:
        opts = {o for p in group.commands[name].params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
        assert {"--json", "-R", "-q"} <= opts, name


def test_completion_scripts_are_not_called_static() -> None:
    section = README.split("## Shell completion", 1)[1].split("\n## ", 1)[0]
    assert "not static" in section and "call back" in section
    assert "Static scripts" not in README
