"""The hot commands answered without Typer, when their command line is a plain one.

``get REF`` and ``get-production NAME`` with ``--path`` and/or ``--json``, ``list [NAME] --json``
(with ``--stage``, ``--tag``, ``--where``, ``--sort``, ``--limit``), ``show REF --json`` and
``register NAME PATH...`` with any of its options, each with ``--json``, ``-q``/``--quiet`` and
``-R``/``--registry DIR`` before or after the command name: what a Makefile, a CI job, a training
script or a model server runs again and again, and what costs less to answer than importing
Typer and its click (15 ms of a 90 ms register). ``modelreg.cli.main`` asks ``answer`` first.

``parse`` takes only the command lines that click would read the same way, and hands them to
the functions the Typer commands call (``reads.py``, ``writes.py``) with the values Typer would
pass, so both ways print the same bytes and exit with the same code. Anything else returns None
and goes to the full CLI: help, an option this module does not know (or an abbreviation, or a
cluster of short flags), ``--``, an empty value, an argument too many or missing, an existing
path it cannot read, a human table, a shell asking for completions, ``MODELREG_DEBUG``. A test
compares both ways on generated command lines and checks this table against the Typer app.
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

    __slots__ = ("flags", "least", "machine", "most", "paths", "repeated", "values")

    def __init__(
        self,
        least: int,
        most: int | None,
        *,
        flags: Mapping[str, str] = _NONE,
        values: Mapping[str, str] = _NONE,
        repeated: Mapping[str, str] = _NONE,
        machine: tuple[str, ...] | None = ("json",),
        paths: tuple[int, frozenset[str]] | None = None,
    ) -> None:
        self.least, self.most = least, most  # positional arguments (None: no most)
        self.flags = flags  # option -> parameter set to True
        self.values = values  # option -> parameter given one value (the last one counts)
        self.repeated = repeated  # option -> parameter collecting every value, in order
        self.machine = machine  # taken only when one of these is set: no human layout (None: always)
        # The positional arguments from this index on, and these parameters, are paths (click
        # refuses one that exists but cannot be read).
        self.paths = paths


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
        "register": Form(
            2,
            None,
            flags=MappingProxyType({"--link": "link", "--push": "push"}),
            values=MappingProxyType(
                {
                    "--metrics-file": "metrics_file",
                    "--description": "description",
                    "-d": "description",
                    "--stage": "stage",
                    "--author": "author",
                    "--python": "python",
                    "--reason": "reason",
                    "--sign": "sign",
                }
            ),
            repeated=MappingProxyType(
                {
                    "--metric": "metric",
                    "-m": "metric",
                    "--param": "param",
                    "-p": "param",
                    "--tag": "tag",
                    "-t": "tag",
                    "--dataset": "dataset",
                    "--env-file": "env_file",
                }
            ),
            machine=None,  # its line for people is plain text, printed the same way
            paths=(1, frozenset({"metrics_file", "python", "sign", "env_file"})),
        ),
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
    if len(args) < form.least or (form.most is not None and len(args) > form.most):
        return None
    if form.machine is not None and not any(options.get(p) for p in form.machine):
        return None  # a table or a panel for people: the full CLI's
    if form.paths is not None:
        first, named = form.paths
        given = [*args[first:], *(v for p in named for v in _values(options.get(p)))]
        if not all(_readable_or_absent(value) for value in given):
            return None
    if "limit" in options:
        limit = options["limit"]
        # click reads --limit with int() and a minimum of 1: only plain digits are read the same here.
        if not (limit.isascii() and limit.isdigit() and int(limit) >= 1):
            return None
        options["limit"] = int(limit)
    if "registry" in options:
        options["registry"] = Path(options["registry"])
    return Plain(command, args, options)


def _values(given: str | list[str] | None) -> list[str]:
    return [] if given is None else [given] if isinstance(given, str) else given


def _readable_or_absent(value: str) -> bool:
    try:
        os.stat(value)
    except (OSError, ValueError):
        return True
    return os.access(value, os.R_OK)


def answer(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int | None:
    """Run a plain hot command line and return its exit code; None leaves it to the full CLI."""
    if "_MODELREG_COMPLETE" in environ or environ.get("MODELREG_DEBUG"):
        return None
    line = parse(argv)
    if line is None:
        return None
    # modelreg/__main__.py ignores a Ctrl-C during shutdown when signal is loaded, as Typer's
    # imports load it on the other way.
    import signal  # noqa: F401

    from .output import OPTIONS

    # What the root callback and each command's global options leave in OPTIONS (cli/group.py).
    OPTIONS.reset()
    OPTIONS.json, OPTIONS.quiet = line.flag("json"), line.flag("quiet")
    OPTIONS.registry = line.options.get("registry")
    json, registry = OPTIONS.json, OPTIONS.registry
    try:
        if line.command == "register":
            _register(line, registry, json, OPTIONS.quiet)
            return 0
        from . import reads

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


def _register(line: Plain, registry: Path | None, json: bool, quiet: bool) -> None:
    from . import writes

    options = line.options

    def path(name: str) -> Path | None:
        return Path(options[name]) if name in options else None

    writes.register(
        line.args[0],
        [Path(p) for p in line.args[1:]],
        metric=options.get("metric"),
        param=options.get("param"),
        tag=options.get("tag"),
        metrics_file=path("metrics_file"),
        description=options.get("description", ""),
        dataset=options.get("dataset"),
        stage=options.get("stage"),
        author=options.get("author"),
        link=line.flag("link"),
        python=path("python"),
        env_file=[Path(p) for p in options["env_file"]] if "env_file" in options else None,
        reason=options.get("reason"),
        sign=path("sign"),
        push=line.flag("push"),
        registry=registry,
        json=json,
        quiet=quiet,
    )
