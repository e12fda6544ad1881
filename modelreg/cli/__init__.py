"""The command-line layer: thin commands over the library, rendering kept apart."""

from __future__ import annotations

from .app import app
from . import core_commands  # noqa: F401,E402 - commands register themselves on ``app``

__all__ = ["app", "main"]


def main() -> None:
    app()
