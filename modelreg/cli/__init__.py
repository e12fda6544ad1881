"""The command-line layer: thin commands over the library, rendering kept apart."""

from __future__ import annotations

import os
import sys

# The import order is the order of commands in --help.
# isort: off
from . import core_commands, audit_commands, ops_commands  # noqa: F401 - they declare the commands

# isort: on
from .app import COMMANDS, build_app

__all__ = ["app", "main"]

app = build_app()


def main() -> None:
    """The console script: build only the command being run."""
    if "_MODELREG_COMPLETE" in os.environ:
        # A shell asking for completions (scripts in completions/): Typer needs its shells loaded.
        from typer.completion import completion_init

        completion_init()
        app(prog_name="modelreg")
        return
    only = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else None
    build_app(only)(prog_name="modelreg")
