"""Every command and every parameter carries help text, and the README lists every command."""

from __future__ import annotations

from pathlib import Path

import typer.main

from modelreg.cli import COMMANDS, app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_command_and_parameter_has_help() -> None:
    group = typer.main.get_command(app)
    missing = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        if not (cmd.help or "").strip():
            missing.append(name)
        for param in cmd.params:
            if param.name != "help" and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{name} {param.name}")
    assert missing == []


def test_readme_documents_every_command() -> None:
    undocumented = [name for name in COMMANDS if f"`{name}" not in README]
    assert undocumented == []
