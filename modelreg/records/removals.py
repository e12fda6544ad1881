"""``models/NAME/removed.yaml``: the versions that were removed (recalled) and why.

Its own file, so that a removal on one git branch and a register or a promotion on another merge
without conflict. The stage file keeps the stage a removed version held; a removed version is in
no stage whatever that file says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REMOVED_FORMAT = 1
REMOVED_NAME = "removed.yaml"


class RemovalSchemaError(ValueError):
    """A removal file that does not follow the schema; the caller names the file."""


@dataclass(frozen=True)
class Removal:
    removed_at: str
    removed_by: str
    reason: str
    stage: str  # the stage it held when it was removed

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_at": self.removed_at,
            "removed_by": self.removed_by,
            "reason": self.reason,
            "stage": self.stage,
        }


@dataclass(frozen=True)
class RemovedFile:
    name: str
    versions: dict[int, Removal] = field(default_factory=dict)

    def to_yaml_data(self) -> dict[str, Any]:
        return {
            "format_version": REMOVED_FORMAT,
            "name": self.name,
            "versions": {n: r.to_json() for n, r in sorted(self.versions.items())},
        }

    @classmethod
    def parse(cls, data: Any) -> RemovedFile:
        if not isinstance(data, dict) or data.get("format_version") != REMOVED_FORMAT:
            raise RemovalSchemaError("not a removal file of a supported format_version")
        name, raw = data.get("name"), data.get("versions") or {}
        if not isinstance(name, str) or not isinstance(raw, dict):
            raise RemovalSchemaError("a removal file needs 'name' and a 'versions' mapping")
        versions: dict[int, Removal] = {}
        for number, item in raw.items():
            if not isinstance(number, int) or isinstance(number, bool) or number < 1 or not isinstance(item, dict):
                raise RemovalSchemaError("'versions' must map version numbers to removals")
            values = [item.get(k) for k in ("removed_at", "removed_by", "reason", "stage")]
            if not all(isinstance(v, str) for v in values):
                raise RemovalSchemaError(
                    f"the removal of version {number} lacks removed_at, removed_by, reason or stage"
                )
            versions[number] = Removal(*(str(v) for v in values))
        return cls(name, versions)
