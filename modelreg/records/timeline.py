"""A model's history replayed: what its audit entries say about its stages and aliases.

The audit log is the truth, and this is the one place that reads its story: ``register`` puts a
version in its ``to_stage``; ``promote`` and ``archive`` move it there; ``alias`` points an alias
at a version (or, with no version, deletes it); ``remove`` takes a version out of every stage and
alias for good; ``deploy`` puts a version in an environment (``env``) and ``undeploy`` takes the
model out of one. Other actions (``init``, ``annotate``, ``request``, ``approve``, ``reject``,
``observe``, and any a later version adds) move nothing. ``verify`` compares the result with the files, and the
references ``~N`` and ``@{TIME}`` are answered from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timeline:
    """A model's stages and aliases after replaying its history up to a moment."""

    stages: dict[int, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    registered: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)
    took: dict[str, list[int]] = field(default_factory=dict)  # stage or alias -> versions, in order
    # environment -> (version, since, by): what it serves, from the deploy entry that put it there
    deployed: dict[str, tuple[int, str, str]] = field(default_factory=dict)


def replay(entries: Iterable[dict[str, Any]], until: str | None = None) -> Timeline:
    """Apply a model's audit entries in log order (those at or before ``until``)."""
    line = Timeline()
    for entry in entries:
        if until is not None and str(entry.get("time", "")) > until:
            continue
        action, number = entry.get("action"), entry.get("version")
        if isinstance(number, bool):
            continue
        if action == "undeploy" and isinstance(entry.get("env"), str):
            line.deployed.pop(entry["env"], None)
            continue
        if not isinstance(number, int) and action != "alias":
            continue
        to_stage = entry.get("to_stage")
        if action == "register" and isinstance(number, int):
            line.registered.add(number)
        if action in ("register", "promote", "archive") and isinstance(to_stage, str) and isinstance(number, int):
            line.stages[number] = to_stage
            line.took.setdefault(to_stage, []).append(number)
        elif action == "alias" and isinstance(entry.get("alias"), str):
            alias = entry["alias"]
            if isinstance(number, int):
                line.aliases[alias] = number
                line.took.setdefault(alias, []).append(number)
            else:
                line.aliases.pop(alias, None)
        elif action == "deploy" and isinstance(entry.get("env"), str) and isinstance(number, int):
            line.deployed[entry["env"]] = (number, str(entry.get("time", "")), str(entry.get("actor", "")))
        elif action == "remove" and isinstance(number, int):
            line.removed.add(number)
            line.stages.pop(number, None)
            for alias in [a for a, n in line.aliases.items() if n == number]:
                del line.aliases[alias]
    return line
