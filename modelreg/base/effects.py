"""What a call did besides its answer: the hooks it ran and what a person should be told.

A verb's result carries both (``hooks``, ``warnings``); the registry object keeps nothing from
one call to the next. While a call runs, the operations add to the innermost collection, and a
collection that ends hands what it holds to the one around it (the command line's, which prints
the warnings), so nothing a nested call learned is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Effects:
    warnings: list[str] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)  # {"event", "command", "exit_code"}


_current: ContextVar[Effects | None] = ContextVar("modelreg_effects", default=None)


@contextmanager
def collecting() -> Iterator[Effects]:
    """A new collection for one call; on leaving, its contents also reach the enclosing one."""
    outer = _current.get()
    effects = Effects()
    token = _current.set(effects)
    try:
        yield effects
    finally:
        _current.reset(token)
        if outer is not None:
            outer.warnings.extend(effects.warnings)
            outer.hooks.extend(effects.hooks)


def current() -> Effects:
    """The collection of the call under way; outside any call, a fresh one nobody reads."""
    effects = _current.get()
    return effects if effects is not None else Effects()


@dataclass(frozen=True, kw_only=True)
class Reported:
    """A verb's result: besides its own fields, the hooks the call ran and its warnings."""

    hooks: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def effects_json(self) -> dict[str, Any]:
        return {"hooks": [dict(run) for run in self.hooks]}


@dataclass(kw_only=True)
class Accumulated:
    """A verb's result counted up while the call runs (findings, blobs moved, bytes freed); like
    ``Reported`` it carries the hooks the call ran and its warnings, set when the call ends."""

    hooks: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def effects_json(self) -> dict[str, Any]:
        return {"hooks": [dict(run) for run in self.hooks]}
