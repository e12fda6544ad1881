"""How an MLflow version becomes a modelreg version: stage, metrics, params, tags, lineage."""

from __future__ import annotations

import math
from typing import Any

from modelreg.records.config import Config

from . import naming
from .mlflow_source import Location, MlflowModel, MlflowRun, MlflowVersion
from .report import ImportReport, Renamed, Skipped


def map_stage(stage: str, config: Config) -> tuple[str, str]:
    """The stage of this registry an MLflow stage becomes, and a note when it is not the same name."""
    if stage == "None":
        return config.default_stage, ""
    lower = stage.lower()
    if lower in config.stages:
        return lower, ""
    if lower == "production" and config.production is not None:
        return config.production, ""
    if lower == "archived":
        return config.archive_stage, ""
    return config.default_stage, f"this registry has no stage {lower!r}; the version stays in {config.default_stage}"


def desired_stages(model: MlflowModel, present: list[int], config: Config) -> dict[int, tuple[str, str]]:
    """MLflow version -> (stage here, why it differs from MLflow's). MLflow lets several versions
    share Production; an exclusive stage here keeps the highest of them, the others are archived."""
    by_number = {v.version: v for v in model.versions}
    wanted = {n: map_stage(by_number[n].stage, config) for n in present}
    for stage in sorted(config.exclusive):
        holders = sorted(n for n, (s, _) in wanted.items() if s == stage)
        for n in holders[:-1]:
            wanted[n] = (
                config.archive_stage,
                f"MLflow has several versions in {by_number[n].stage}; {stage} is exclusive here and MLflow "
                f"version {holders[-1]} holds it, so this one goes to {config.archive_stage}",
            )
    return wanted


def mapped_pairs(
    values: dict[str, Any], what: str, model: MlflowModel, target: str, number: int | None, report: ImportReport
) -> dict[str, Any]:
    """Keys made modelreg keys (renames reported); MLflow's own ``mlflow.*`` tags left out. A key
    that is already a modelreg key wins over one that would be renamed into it."""
    out: dict[str, Any] = {}
    for original in _valid_first(values):
        value = values[original]
        if what == "tag" and original.startswith("mlflow."):
            continue
        if what == "metric" and not math.isfinite(value):
            report.skipped.append(
                Skipped(target, model.name, number, what, f"{value} is not a finite number", original)
            )
            continue
        fixed = naming.key(original)
        if fixed is None or fixed in out:
            why = "it cannot be made a modelreg key" if fixed is None else f"another key also becomes {fixed!r}"
            report.skipped.append(Skipped(target, model.name, number, what, why, original))
            continue
        if fixed != original:
            report.renamed.append(Renamed(target, model.name, what, original, fixed))
        out[fixed] = value
    return out


def _valid_first(values: dict[str, Any]) -> list[str]:
    return sorted(values, key=lambda k: (naming.key(k) != k, k))


def plain_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags as modelreg keeps them: keys normalised, MLflow's own ``mlflow.*`` left out."""
    out: dict[str, str] = {}
    for original in _valid_first(tags):
        value, fixed = tags[original], naming.key(original)
        if not original.startswith("mlflow.") and fixed is not None:
            out.setdefault(fixed, value)
    return out


def imported_lineage(
    location: Location, model: MlflowModel, version: MlflowVersion, run: MlflowRun | None
) -> dict[str, Any]:
    """``lineage.imported``: where the version came from. (name, version, created_at) is how a
    later import recognises it, whichever URI reaches the same store."""
    creator = version.user_id or (run.user if run else None)
    source = version.source
    model_id = source.removeprefix("models:/").split("/")[0] if source.startswith("models:/m-") else None
    return {
        "from": "mlflow",
        "tracking_uri": location.uri,
        "name": model.name,
        "version": version.version,
        "created_at": version.created_at,
        "updated_at": version.updated_at,
        "stage": version.stage,
        "run_id": version.run_id,
        "source": source,
        "model_id": model_id,
        "creator": creator if creator and creator != "unknown" else None,
        "run": None
        if run is None
        else {
            "name": run.name,
            "experiment_id": run.experiment_id,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "status": run.status,
            "deleted": run.deleted,
            "git_commit": run.git_commit,
        },
    }


def key_of(imported: Any) -> tuple[Any, Any, Any] | None:
    """The identity of an MLflow version in a manifest's ``lineage.imported`` (None: not from MLflow)."""
    if not isinstance(imported, dict) or imported.get("from") != "mlflow":
        return None
    return imported.get("name"), imported.get("version"), imported.get("created_at")
