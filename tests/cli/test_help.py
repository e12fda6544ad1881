"""Every command and every parameter carries help text (the generated command reference is made of it)."""

from __future__ import annotations

import typer.main

from modelreg.cli import app


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
