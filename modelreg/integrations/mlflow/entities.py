"""MLflow's objects (``RegisteredModel``, ``ModelVersion``) made from a registry's records."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)

from . import uris
from .stages import Stages

if TYPE_CHECKING:
    from modelreg.records.manifest import Version
    from modelreg.records.state import ModelState
    from modelreg.registry import Registry

# A model tag that hides a model MLflow deleted (its versions are removed; `modelreg show` keeps it).
HIDDEN = "modelreg.mlflow.deleted"


def millis(stamp: str | None) -> int | None:
    """RFC 3339 (the registry's times) as MLflow's milliseconds since the epoch."""
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class ModelView:
    """One model as MLflow sees it: its state, and when it and each version last changed
    (the time of its last audit entry, read once from the model's own history)."""

    def __init__(self, registry: Registry, name: str, stages: Stages, state: ModelState | None = None) -> None:
        self.registry = registry
        self.name = name
        self.stages = stages
        self.state = state if state is not None else registry.state(name)
        self._times: dict[int | None, str] | None = None

    @property
    def hidden(self) -> bool:
        return HIDDEN in self.state.index.tags

    def live(self, number: int) -> bool:
        return 1 <= number <= self.state.latest and number not in self.state.removed

    def live_numbers(self) -> list[int]:
        return [n for n in range(1, self.state.latest + 1) if n not in self.state.removed]

    def times(self) -> dict[int | None, str]:
        """None -> the model's last change; N -> version N's: the whole history, read once (for
        listing every version of a model)."""
        if self._times is None:
            times: dict[int | None, str] = {}
            for entry in self.registry.history(self.name):
                when, number = str(entry.get("time") or ""), entry.get("version")
                times[None] = max(times.get(None, ""), when)
                if isinstance(number, int) and not isinstance(number, bool):
                    times[number] = max(times.get(number, ""), when)
            self._times = times
        return self._times

    def last_change(self, number: int | None) -> str | None:
        """One version's (or the model's) last change: from the history read once if it was,
        else from the newest entries only (an alias lookup does not read a long history)."""
        if self._times is not None:
            return self._times.get(number)
        return self.registry.last_change(self.name, number)

    def version(self, number: int) -> Version:
        return self.registry.load_version(self.state, number)

    def version_entity(self, version: Version) -> ModelVersion:
        return version_entity(self.registry, self.stages, version, self.last_change(version.version))

    def model_entity(self) -> RegisteredModel:
        index = self.state.index
        latest: list[ModelVersion] = []
        for stage in self.stages.names:
            holders = self.state.holders(stage)
            if holders:
                latest.append(self.version_entity(self.version(max(holders))))
        created = millis(index.created_at)
        return RegisteredModel(
            name=index.name,
            creation_timestamp=created,
            last_updated_timestamp=millis(self.last_change(None)) or created,
            description=index.description,
            latest_versions=latest,
            tags=[RegisteredModelTag(k, v) for k, v in sorted(index.tags.items()) if k != HIDDEN],
            aliases=[RegisteredModelAlias(a, n) for a, n in sorted(self.state.aliases.targets.items())],
        )


def mlflow_ids(version: Version) -> dict[str, Any]:
    """``lineage.imported`` of a version that came from MLflow (by the plugin or ``import mlflow``)."""
    imported = version.lineage.get("imported")
    return imported if isinstance(imported, dict) and imported.get("from") == "mlflow" else {}


def version_entity(registry: Registry, stages: Stages, version: Version, last_change: str | None) -> ModelVersion:
    ids = mlflow_ids(version)
    where = uris.download_uri(registry.root, version.name, version.version)
    created = millis(version.created_at) or 0
    return ModelVersion(
        name=version.name,
        # An int, as MLflow's own local stores give it (its annotation says str; REST sends text).
        version=version.version,  # type: ignore[arg-type]
        creation_timestamp=created,
        last_updated_timestamp=millis(last_change) or created,
        description=version.description,
        user_id=version.created_by,
        current_stage=stages.to_mlflow(version.stage or None),
        source=_text(ids.get("source")) or where,
        run_id=_text(ids.get("run_id")),
        tags=[ModelVersionTag(k, v) for k, v in sorted(version.tags.items())],
        run_link=_text(ids.get("run_link")),
        aliases=list(version.aliases),
        model_id=_text(ids.get("model_id")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
