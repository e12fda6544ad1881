"""Every command of the command line names the library call that does its work, and that call
exists, is public and returns a result that knows its --json document."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import typer.main

import modelreg
from modelreg.cli import COMMANDS, app, reads
from modelreg.cli.group import _DECLARED, LIBRARY


def resolve(dotted: str) -> Callable[..., Any]:
    """``Registry.verify`` or ``completion_script``: the public object of ``modelreg`` it names."""
    head, _, rest = dotted.partition(".")
    assert head in modelreg.__all__, f"{dotted}: {head} is not in modelreg.__all__"
    found: Any = getattr(modelreg, head)
    for part in rest.split(".") if rest else []:
        assert not part.startswith("_"), dotted
        found = getattr(found, part)
    assert callable(found), dotted
    return found  # type: ignore[no-any-return]


def returned_types(call: Callable[..., Any]) -> list[type]:
    """The classes a call's return annotation names (each member of a union)."""
    namespace = {name: getattr(modelreg, name) for name in modelreg.__all__}
    hints = typing.get_type_hints(call, globalns={**vars(inspect.getmodule(call)), **namespace})
    answer = hints["return"]
    if isinstance(answer, types.UnionType) or typing.get_origin(answer) is typing.Union:
        return list(typing.get_args(answer))
    return [answer]


def test_the_app_has_exactly_the_declared_commands() -> None:
    built = typer.main.get_command(app)
    assert sorted(built.commands) == sorted(COMMANDS)  # type: ignore[attr-defined]
    assert sorted(_DECLARED) == sorted(COMMANDS)


def test_every_command_names_an_existing_library_call() -> None:
    built = typer.main.get_command(app)
    missing = [name for name in built.commands if not LIBRARY.get(name)]  # type: ignore[attr-defined]
    assert not missing, f"commands without a library call: {missing}"
    for calls in LIBRARY.values():
        for dotted in calls:
            resolve(dotted)


def test_each_call_returns_a_result_with_to_json() -> None:
    for name, calls in LIBRARY.items():
        for dotted in calls:
            for kind in returned_types(resolve(dotted)):
                assert callable(getattr(kind, "to_json", None)), f"{name}: {dotted} returns {kind}, without to_json"


def test_each_command_calls_what_it_declares() -> None:
    """The module declaring a command calls (or hands on) the call it declares."""
    for name, calls in LIBRARY.items():
        source = inspect.getsource(inspect.getmodule(_DECLARED[name]))  # type: ignore[arg-type]
        if "reads." in source:  # the hot reads hand their bodies to the module the fast path shares
            source += inspect.getsource(reads)
        spoken = [d.rpartition(".")[2] for d in calls]
        assert any(f"{word}(" in source or f"reg.{word} " in source for word in spoken), f"{name} never calls {calls}"


def test_a_command_without_a_call_is_caught() -> None:
    """The walk above fails for a command that declares nothing (the declaration is what it reads)."""
    from modelreg.cli.group import command

    @command("no-such-command")
    def no_such_command() -> None:
        """Declared only for this test."""

    try:
        assert LIBRARY["no-such-command"] == ()
        assert [n for n, calls in LIBRARY.items() if not calls] == ["no-such-command"]
    finally:
        del LIBRARY["no-such-command"], _DECLARED["no-such-command"]
