"""The command-line layer: thin commands over the library, rendering kept apart."""

from __future__ import annotations

from . import audit_commands, core_commands, ops_commands  # noqa: F401 - commands register on ``app``
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
