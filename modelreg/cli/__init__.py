"""The command-line layer: thin commands over the library, rendering kept apart."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .group import COMMANDS, build_app

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "build_app", "main"]


def main() -> None:
    """The console script: build only the command being run."""
    if "_MODELREG_COMPLETE" in os.environ:
        # A shell asking for completions (scripts in completions/): Typer needs its shells loaded.
        from typer.completion import completion_init  # type: ignore[attr-defined]  # not re-exported

        completion_init()
        build_app()(prog_name="modelreg")
        return
    only = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else None
    build_app(only)(prog_name="modelreg")


def __getattr__(name: str) -> typer.Typer:
    # The whole app (every command module imported) only for those who ask: tests, docs.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
