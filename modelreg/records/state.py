"""Per-model state: the model file (annotations, latest version) and the stage-assignment file.

A version's stage is its entry in the stage file when promote has moved it, otherwise the
stage it was registered in. ``register`` rewrites only the model file and ``promote`` only the
stage file, so a register on one git branch and a promote on another merge cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from modelreg.errors import ConflictError
from modelreg.records.aliases import AliasFile
from modelreg.records.manifest import SchemaError
from modelreg.records.names import MAX_VERSION
from modelreg.records.removals import Removal

STATE_FORMAT = 1
# With a claim engine, the stage a version was registered in (when not the default) is its own
# file ``started/<n>.yaml`` rather than an entry of model.yaml: clones registering at once each
# add a file of their own, where entries of one file would meet in a git conflict.
STARTED_DIR = "started"


def started_data(name: str, number: int, stage: str) -> dict[str, Any]:
    return {"format_version": STATE_FORMAT, "name": name, "version": number, "stage": stage}


def parse_started(data: Any, name: str, number: int) -> str:
    """The stage of ``started/<number>.yaml`` of model ``name``; SchemaError when it is not one."""
    if not isinstance(data, dict) or data.get("format_version") != STATE_FORMAT:
        raise SchemaError("not a started-stage file of a supported format_version")
    version, stage = data.get("version"), data.get("stage")
    if data.get("name") != name or version != number or isinstance(version, bool):
        raise SchemaError(f"does not name {name}@{number}")
    if not isinstance(stage, str) or not stage:
        raise SchemaError("missing or invalid 'stage'")
    return stage


def _int_stage_map(data: dict[str, Any], key: str) -> dict[int, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise SchemaError(f"{key!r} must map version numbers to stages")
    result: dict[int, str] = {}
    for k, v in value.items():
        if not isinstance(k, int) or isinstance(k, bool) or k < 1 or not isinstance(v, str):
            raise SchemaError(f"{key!r} must map version numbers to stages")
        if k > MAX_VERSION:
            raise SchemaError(f"{key!r} names version {k}, over the limit of {MAX_VERSION} versions of a model")
        result[k] = v
    return result


@dataclass(frozen=True)
class ModelIndex:
    """``models/NAME/model.yaml``: small, read by list and by every lookup of the model."""

    name: str
    created_at: str
    created_by: str
    default_stage: str
    latest_version: int = 0
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # Versions registered in a stage other than default_stage (rare: register --stage).
    initial_stages: dict[int, str] = field(default_factory=dict)

    def to_yaml_data(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "description": self.description,
            "tags": dict(self.tags),
            "default_stage": self.default_stage,
            "latest_version": self.latest_version,
            "initial_stages": dict(sorted(self.initial_stages.items())),
        }

    def with_version(self, number: int, stage: str) -> ModelIndex:
        if number > MAX_VERSION:
            raise ConflictError(
                f"model {self.name!r} already has {MAX_VERSION} versions, the most a model can hold; "
                "register under a new model name",
                code="version_limit",
            )
        initial = dict(self.initial_stages)
        if stage != self.default_stage:
            initial[number] = stage
        return replace(self, latest_version=number, initial_stages=initial)

    @classmethod
    def parse(cls, data: Any) -> ModelIndex:
        if not isinstance(data, dict) or data.get("format_version") != STATE_FORMAT:
            raise SchemaError("not a model file of a supported format_version")
        fields: dict[str, Any] = {}
        for key in ("name", "created_at", "created_by", "default_stage"):
            if not isinstance(data.get(key), str):
                raise SchemaError(f"missing or invalid {key!r}")
            fields[key] = data[key]
        latest = data.get("latest_version", 0)
        if not isinstance(latest, int) or isinstance(latest, bool) or latest < 0:
            raise SchemaError("'latest_version' must be a non-negative integer")
        if latest > MAX_VERSION:
            raise SchemaError(f"'latest_version' is {latest}, over the limit of {MAX_VERSION} versions of a model")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise SchemaError("'tags' must map strings to strings")
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise SchemaError("'description' must be a string")
        return cls(
            latest_version=latest,
            description=description,
            tags=dict(tags),
            initial_stages=_int_stage_map(data, "initial_stages"),
            **fields,
        )


@dataclass(frozen=True)
class StageFile:
    """``models/NAME/stages.yaml``: the stage of every version that promote has moved."""

    name: str
    assignments: dict[int, str] = field(default_factory=dict)

    def to_yaml_data(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT,
            "name": self.name,
            "versions": dict(sorted(self.assignments.items())),
        }

    @classmethod
    def parse(cls, data: Any) -> StageFile:
        if not isinstance(data, dict) or data.get("format_version") != STATE_FORMAT:
            raise SchemaError("not a stage file of a supported format_version")
        if not isinstance(data.get("name"), str):
            raise SchemaError("missing or invalid 'name'")
        return cls(name=data["name"], assignments=_int_stage_map(data, "versions"))


@dataclass(frozen=True)
class ModelState:
    index: ModelIndex
    stages: StageFile
    aliases: AliasFile = field(default_factory=lambda: AliasFile(""))
    # Removed (recalled) versions, from removed.yaml: in no stage, skipped by latest.
    removed: dict[int, Removal] = field(default_factory=dict)
    # With a claim engine: numbers up to latest that have no version here (claimed by another
    # clone and not pulled yet, or claimed by a writer that died before recording).
    absent: frozenset[int] = frozenset()

    @property
    def latest(self) -> int:
        """The highest version number (removed or not): the next register allocates latest + 1."""
        return self.index.latest_version

    def numbers(self) -> list[int]:
        """Every version number this registry holds, oldest first (removed ones included)."""
        if not self.absent:
            return list(range(1, self.latest + 1))
        return [n for n in range(1, self.latest + 1) if n not in self.absent]

    def has(self, number: int) -> bool:
        return 1 <= number <= self.latest and number not in self.absent

    @property
    def latest_live(self) -> int | None:
        """The newest version that was not removed (what NAME@latest names)."""
        for number in range(self.latest, 0, -1):
            if number not in self.removed and number not in self.absent:
                return number
        return None

    def stage_of(self, number: int) -> str:
        assigned = self.stages.assignments.get(number)
        if assigned is not None:
            return assigned
        return self.index.initial_stages.get(number, self.index.default_stage)

    def holders(self, stage: str) -> list[int]:
        """Versions currently in ``stage``, oldest first; O(moved versions) unless it is the default."""
        if stage == self.index.default_stage:
            return [n for n in self.numbers() if self.stage_of(n) == stage and n not in self.removed]
        candidates = set(self.stages.assignments) | set(self.index.initial_stages)
        return sorted(n for n in candidates if self.has(n) and self.stage_of(n) == stage and n not in self.removed)

    def stage_map(self, stages: tuple[str, ...], exclusive: frozenset[str]) -> dict[str, Any]:
        """Every configured stage: exclusive ones to a version or None, others to a list."""
        by_stage: dict[str, list[int]] = {s: [] for s in stages}
        for n in self.numbers():
            if n not in self.removed:
                by_stage.setdefault(self.stage_of(n), []).append(n)
        return {s: ((v[-1] if v else None) if s in exclusive else v) for s, v in by_stage.items()}
