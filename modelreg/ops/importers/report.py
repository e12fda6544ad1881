"""What an import did (or, for a dry run, would do): the summary the CLI prints and ``--json`` gives."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelreg.base.effects import Accumulated


@dataclass(frozen=True)
class Imported:
    model: str
    version: int | None  # None in a dry run: numbers are allocated when it is registered
    mlflow_name: str
    mlflow_version: int
    stage: str
    files: int
    size: int


@dataclass(frozen=True)
class Updated:
    model: str
    version: int | None  # None: the model itself (description, tags)
    field: str  # stage, alias, description, tags
    old: Any
    new: Any


@dataclass(frozen=True)
class Skipped:
    model: str | None  # None: the MLflow model has no modelreg name
    mlflow_name: str
    mlflow_version: int | None  # None: the whole model, or one of its aliases
    what: str  # model, version, stage, alias, metric, param, tag
    reason: str
    item: str | None = None  # the alias, key or stage concerned


@dataclass(frozen=True)
class Renamed:
    model: str
    mlflow_name: str
    what: str  # model, alias, metric, param, tag
    original: str
    name: str


@dataclass
class ImportReport(Accumulated):
    source: str
    dry_run: bool
    models: list[str] = field(default_factory=list)
    imported: list[Imported] = field(default_factory=list)
    updated: list[Updated] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)
    unchanged: int = 0  # versions imported before that needed nothing

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "models": list(self.models),
            "imported": [asdict(x) for x in self.imported],
            "updated": [asdict(x) for x in self.updated],
            "skipped": [asdict(x) for x in self.skipped],
            "renamed": [asdict(x) for x in self.renamed],
            "unchanged": self.unchanged,
            "counts": {
                "models": len(self.models),
                "imported": len(self.imported),
                "updated": len(self.updated),
                "skipped": len(self.skipped),
                "unchanged": self.unchanged,
            },
        }
