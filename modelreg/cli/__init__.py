"""The command-line layer: thin commands over the library, rendering kept apart.

Importing this package costs nothing: Typer is loaded only to run a command, a shell asking for
completions is answered by ``complete.py``, which needs neither Typer nor rich nor YAML, and the
plain forms of the hot read commands (``get --path``, ``get-production --json``, ``list --json``,
``show --json``) by ``fast_path.py``, which runs the Typer commands' own functions without Typer.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "build_app", "main"]


def main() -> None:
    """The console script: a TAB or a plain hot read without Typer, else build only the command being run."""
    if "_MODELREG_COMPLETE" in os.environ:
        from .complete import respond

        raise SystemExit(respond(os.environ))
    from .fast_path import answer

    code = answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
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
