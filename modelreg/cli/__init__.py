"""The command-line layer: thin commands over the library, rendering kept apart.

Importing this package costs nothing: Typer is loaded only to run a command, and a shell asking
for completions is answered by ``complete.py``, which needs neither Typer nor rich nor YAML.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "build_app", "main"]


def main() -> None:
    """The console script: build only the command being run."""
    if "_MODELREG_COMPLETE" in os.environ:
        from .complete import respond

        raise SystemExit(respond(os.environ))
    from .group import build_app as build
    from .group import command_in

    build(command_in(sys.argv[1:]))(prog_name="modelreg")


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just ``only``."""
    from .group import build_app as build

    return build(only)


def __getattr__(name: str) -> Any:
    # The whole app (every command module imported) only for those who ask: tests, docs.
    if name == "app":
        return build_app()
    if name == "COMMANDS":
        from .group import COMMANDS

        return COMMANDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
