"""``models/NAME/aliases.yaml``: names that point at one version each (``champion``, ``eu-canary``).

Its own file, rewritten only by ``alias``: an alias change on one git branch and a register or a
promotion on another merge without conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .manifest import SchemaError
from .names import is_valid_name

ALIASES_FORMAT = 1


@dataclass(frozen=True)
class AliasFile:
    name: str
    targets: dict[str, int] = field(default_factory=dict)  # alias -> version

    def to_yaml_data(self) -> dict[str, Any]:
        return {"format_version": ALIASES_FORMAT, "name": self.name, "aliases": dict(sorted(self.targets.items()))}

    def of(self, version: int) -> tuple[str, ...]:
        """The aliases pointing at ``version``, sorted."""
        return tuple(sorted(a for a, v in self.targets.items() if v == version))

    @classmethod
    def parse(cls, data: Any) -> AliasFile:
        if not isinstance(data, dict) or data.get("format_version") != ALIASES_FORMAT:
            raise SchemaError("not an alias file of a supported format_version")
        name, targets = data.get("name"), data.get("aliases") or {}
        if not isinstance(name, str) or not isinstance(targets, dict):
            raise SchemaError("an alias file holds a name and a mapping of aliases to versions")
        for alias, version in targets.items():
            if not isinstance(alias, str) or not is_valid_name(alias) or alias.isdigit() or alias == "latest":
                raise SchemaError(f"invalid alias {alias!r}")
            if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 10**9:
                raise SchemaError(f"alias {alias!r} must name a version number")
        return cls(name, dict(targets))
