"""The completion spec: the shape of the command line as ``complete.py`` needs it, from the app.

For every command: its first help line, its options (flag or taking a value, and what a value
completes to) and its arguments in order. What an argument completes to is the ``kind`` its
``autocompletion`` callback was declared with (``options.COMPLETION_KINDS``).
"""

from __future__ import annotations

from typing import Any

import typer
import typer.main
from typer._click.core import Parameter
from typer.core import TyperArgument, TyperOption
from typer.utils import get_params_from_function

from .group import build_app
from .options import COMPLETION_KINDS

HELP_OPTIONS = ("-h", "--help")


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _kinds(callback: Any) -> dict[str, str | None]:
    metas = get_params_from_function(callback)
    return {name: COMPLETION_KINDS.get(getattr(meta.default, "autocompletion", None)) for name, meta in metas.items()}


def _options(params: list[Parameter], kinds: dict[str, str | None]) -> dict[str, Any]:
    found: dict[str, Any] = {name: {"flag": True, "help": "Show this message and exit."} for name in HELP_OPTIONS}
    for param in params:
        if not isinstance(param, TyperOption) or param.hidden:
            continue
        entry: dict[str, Any] = {"flag": bool(param.is_flag or param.count), "help": _first_line(param.help)}
        kind = kinds.get(param.name or "")
        if kind:
            entry["complete"] = kind
        if param.name == "registry":
            entry["registry"] = True
        for name in [*param.opts, *param.secondary_opts]:
            found[name] = entry
    return found


def _arguments(params: list[Parameter], kinds: dict[str, str | None]) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "complete": kinds.get(p.name or ""), "variadic": p.nargs == -1}
        for p in params
        if isinstance(p, TyperArgument)
    ]


def build_spec(app: typer.Typer | None = None) -> dict[str, Any]:
    app = app or build_app()
    group: Any = typer.main.get_command(app)
    root_callback = app.registered_callback.callback if app.registered_callback else None
    root_kinds = _kinds(root_callback) if root_callback else {}
    commands = {}
    for info in app.registered_commands:
        name = info.name or ""
        command = group.commands[name]
        kinds = _kinds(info.callback)
        commands[name] = {
            "help": _first_line(command.help),
            "options": _options(command.params, kinds),
            "args": _arguments(command.params, kinds),
        }
    return {"root": {"options": _options(group.params, root_kinds)}, "commands": commands}
