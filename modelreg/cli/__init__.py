"""The command-line layer: thin commands over the library, rendering kept apart."""

from __future__ import annotations

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
    only = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else None
    build_app(only)()
