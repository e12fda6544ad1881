"""The hot read commands answered without Typer, when their command line is a plain one.

``get REF`` and ``get-production NAME`` with ``--path`` and/or ``--json``, ``list [NAME] --json``
(with ``--stage``, ``--tag``, ``--where``, ``--sort``, ``--limit``) and ``show REF --json``, with
``--json``, ``-q``/``--quiet`` and ``-R``/``--registry DIR`` before or after the command name:
what a Makefile, a CI job or a model server runs again and again, and what costs less to answer
than importing Typer and its click. ``modelreg.cli.main`` asks ``answer`` first.

``parse`` takes only the command lines that click would read the same way, and hands them to
the functions the Typer commands call (``reads.py``) with the values Typer would pass, so both
ways print the same bytes and exit with the same code. Anything else returns None and goes to
the full CLI: help, an option this module does not know (or an abbreviation, or a cluster of
short flags), ``--``, an empty value, an argument too many or missing, a human table, a shell
asking for completions, ``MODELREG_DEBUG``. A test compares both ways on generated command
lines and checks this table against the Typer app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

_NONE: Mapping[str, str] = MappingProxyType({})


class Form:
    """What one command takes after its name, besides the global options. (A plain class: a
    dataclass costs its generated methods at every start.)"""

    __slots__ = ("flags", "least", "machine", "most", "repeated", "values")

    def __init__(
        self,
        least: int,
        most: int,
        *,
        flags: Mapping[str, str] = _NONE,
        values: Mapping[str, str] = _NONE,
        repeated: Mapping[str, str] = _NONE,
        machine: tuple[str, ...] = ("json",),
    ) -> None:
        self.least, self.most = least, most  # positional arguments
        self.flags = flags  # option -> parameter set to True
        self.values = values  # option -> parameter given one value (the last one counts)
        self.repeated = repeated  # option -> parameter collecting every value, in order
        self.machine = machine  # taken only when one of these is set: no human layout


_HAND_OUT = Form(1, 1, flags=MappingProxyType({"--path": "path"}), machine=("json", "path"))
FORMS: Mapping[str, Form] = MappingProxyType(
    {
        "get": _HAND_OUT,
        "get-production": _HAND_OUT,
        "list": Form(
            0,
            1,
            values=MappingProxyType({"--stage": "stage", "--sort": "sort", "--limit": "limit"}),
            repeated=MappingProxyType({"--tag": "tag", "--where": "where"}),
        ),
        "show": Form(1, 1),
    }
)
# Every command takes these, before or after its name (cli/group.py).
GLOBAL_FLAGS: Mapping[str, str] = MappingProxyType({"--json": "json", "-q": "quiet", "--quiet": "quiet"})
GLOBAL_VALUES: Mapping[str, str] = MappingProxyType({"-R": "registry", "--registry": "registry"})


class Plain:
    """A plain command line: the command, its arguments and the value of each option given."""

    __slots__ = ("args", "command", "options")

    def __init__(self, command: str, args: list[str], options: dict[str, Any]) -> None:
        self.command, self.args, self.options = command, args, options

    def flag(self, name: str) -> bool:
        return bool(self.options.get(name))


def parse(argv: Sequence[str]) -> Plain | None:
    """The command line as a plain hot read, or None when the full CLI must read it."""
    command: str | None = None
    args: list[str] = []
    options: dict[str, Any] = {}
    words = iter(argv)
    for word in words:
        form = FORMS[command] if command is not None else None
        if not word.startswith("-"):
            if not word:
                return None  # an empty argument: the full CLI's to judge
            if form is None:
                if word not in FORMS:
                    return None
                command = word
            else:
                args.append(word)
            continue
        name, equals, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        flags = {**GLOBAL_FLAGS, **(form.flags if form else {})}
        single = {**GLOBAL_VALUES, **(form.values if form else {})}
        repeated = form.repeated if form else _NONE
        if name in flags and not equals:
            options[flags[name]] = True
            continue
        if name not in single and name not in repeated:
            return None  # help, --version, --, a cluster of short flags, an option of the full CLI
        # click takes the next word as the value whatever it looks like (``--sort -created_at``);
        # a missing or empty one is the full CLI's to report or to read its own way.
        value = attached if equals else next(words, None)
        if not value:
            return None
        if name in single:
            options[single[name]] = value
        else:
            options.setdefault(repeated[name], []).append(value)
        if name in GLOBAL_VALUES and not _readable_or_absent(value):
            return None  # click refuses a registry path that exists but cannot be read
    if command is None:
        return None
    form = FORMS[command]
    if not form.least <= len(args) <= form.most:
        return None
    if not any(options.get(p) for p in form.machine):
        return None  # a table or a panel for people: the full CLI's
    if "limit" in options:
        limit = options["limit"]
        # click reads --limit with int() and a minimum of 1: only plain digits are read the same here.
        if not (limit.isascii() and limit.isdigit() and int(limit) >= 1):
            return None
        options["limit"] = int(limit)
    if "registry" in options:
        options["registry"] = Path(options["registry"])
    return Plain(command, args, options)


def _readable_or_absent(value: str) -> bool:
    try:
        os.stat(value)
    except (OSError, ValueError):
        return True
    return os.access(value, os.R_OK)


def answer(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int | None:
    """Run a plain hot read command line and return its exit code; None leaves it to the full CLI."""
    if "_MODELREG_COMPLETE" in environ or environ.get("MODELREG_DEBUG"):
        return None
    line = parse(argv)
    if line is None:
        return None
    # modelreg/__main__.py ignores a Ctrl-C during shutdown when signal is loaded, as Typer's
    # imports load it on the other way.
    import signal  # noqa: F401

    from . import reads
    from .output import OPTIONS

    # What the root callback and each command's global options leave in OPTIONS (cli/group.py).
    OPTIONS.reset()
    OPTIONS.json, OPTIONS.quiet = line.flag("json"), line.flag("quiet")
    OPTIONS.registry = line.options.get("registry")
    json, registry = OPTIONS.json, OPTIONS.registry
    try:
        if line.command == "get":
            reads.get(line.args[0], path=line.flag("path"), output=None, signature=False, registry=registry, json=json)
        elif line.command == "get-production":
            reads.get_production(
                line.args[0], path=line.flag("path"), output=None, signature=False, registry=registry, json=json
            )
        elif line.command == "list":
            reads.list_(
                line.args[0] if line.args else None,
                stage=line.options.get("stage"),
                tag=line.options.get("tag"),
                where=line.options.get("where"),
                sort=line.options.get("sort"),
                limit=line.options.get("limit"),
                registry=registry,
                json=json,
            )
        else:
            reads.show(line.args[0], registry=registry, json=json)
    except KeyboardInterrupt:
        return 130  # as click answers a Ctrl-C that reaches it: exit 130, nothing printed
    return 0
