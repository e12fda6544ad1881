"""MLflow's stages and the registry's, both ways (docs/guide/mlflow.md has the table).

MLflow knows ``None``, ``Staging``, ``Production`` and ``Archived``; a registry has its own list.
By role: MLflow's ``None`` is the registry's default stage (where a new version starts),
``Archived`` its archive stage, ``Production`` its production stage; ``Staging`` is a stage named
``staging``. Every other stage of the registry keeps its own name in MLflow (``canary``). The
mapping round-trips: ``from_mlflow(to_mlflow(s)) == s`` for every stage of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelreg.records.config import Config

NONE = "None"
CANONICAL = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


@dataclass(frozen=True)
class Stages:
    """The registry's stages by role (what ``modelreg.toml`` configures)."""

    names: tuple[str, ...]
    default: str
    archive: str
    production: str | None

    @classmethod
    def of(cls, config: Config) -> Stages:
        return cls(tuple(config.stages), config.default_stage, config.archive_stage, config.production)

    def to_mlflow(self, stage: str | None) -> str:
        """The stage MLflow shows for a version in ``stage`` (a removed version has none: ``None``)."""
        if stage is None or stage == self.default:
            return NONE
        if stage == self.archive:
            return "Archived"
        if stage == self.production:
            return "Production"
        if stage == "staging":
            return "Staging"
        return stage

    def from_mlflow(self, text: str) -> str | None:
        """The registry's stage for an MLflow stage name; None when the registry has no such stage.
        A stage of the registry spelt exactly wins; then MLflow's four by role (any case); then
        a stage of the registry in any case."""
        if text in self.names:
            return text
        lower = text.strip().lower()
        if lower == "none":
            return self.default
        if lower == "archived":
            return self.archive
        if lower == "production" and self.production is not None:
            return self.production
        return lower if lower in self.names else None

    def mlflow_names(self) -> list[str]:
        return [self.to_mlflow(s) for s in self.names]
