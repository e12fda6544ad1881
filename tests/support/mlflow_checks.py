"""Checks shared by the import tests: what an import of the builder's store must have produced."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.mlflow_stores import files_of

# Where each MLflow version lands here: ranker 1 leaves production to ranker 2 (exclusive here).
STAGES = {"None": "development", "Staging": "staging", "Production": "production", "Archived": "archived"}
DEMOTED = {("ranker", 1)}
# MLflow alias -> MLflow version, of the aliases that become aliases here.
ALIASES: dict[str, dict[str, int]] = {
    "churn": {"champion": 2, "challenger": 3},
    "fraud-detector": {"champion": 1, "challenger": 2},
    "ranker": {},
    "Credit Risk": {"champion": 1},
}
TARGETS = {"churn": "churn", "fraud-detector": "fraud-detector", "ranker": "ranker", "Credit Risk": "credit-risk"}


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def importable(facts: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, v) for name, m in facts["models"].items() for v in m["versions"] if not v.get("artifacts_missing")]


def only(facts: dict[str, Any], *names: str) -> dict[str, Any]:
    """The facts of some of the models."""
    return {**facts, "models": {n: m for n, m in facts["models"].items() if n in names}}


def do_import(cli: Callable[..., Any], reg: Path, *args: Any) -> dict[str, Any]:
    result = cli("import", "mlflow", "-R", reg, "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_origin(reg: Path) -> dict[tuple[str, int], Any]:
    """Every version here that came from MLflow, by (MLflow name, version); fails on a duplicate."""
    from modelreg import Registry

    found: dict[tuple[str, int], Any] = {}
    for version in Registry.open(reg).iter_all_versions():
        imported = version.lineage.get("imported")
        if imported:
            key = (imported["name"], imported["version"])
            assert key not in found, f"{key} imported twice"
            found[key] = version
    return found


def check_registry(
    reg: Path, facts: dict[str, Any], cli: Callable[..., Any], tmp_path: Path, extra: Sequence[str] = ()
) -> None:
    """Every mapped field and every byte of every importable version; models' annotations.
    ``extra`` names MLflow models imported too that the facts do not describe."""
    from modelreg import Registry

    versions = {k: v for k, v in by_origin(reg).items() if k[0] not in extra}
    assert sorted(versions) == sorted((n, v["version"]) for n, v in importable(facts))
    registry = Registry.open(reg)
    for name, expected in importable(facts):
        got = versions[(name, expected["version"])]
        where = f"{name} {expected['version']}"
        assert got.name == TARGETS[name], where
        stage = "archived" if (name, expected["version"]) in DEMOTED else STAGES[expected["stage"]]
        assert got.stage == stage, where
        assert {f.path: f.digest for f in got.files} == expected["files"], where
        assert got.metrics == expected["metrics"], where
        assert got.params == expected["params"], where
        assert got.tags == expected["tags"], where
        assert got.description == expected["description"], where
        imported = got.lineage["imported"]
        assert imported["from"] == "mlflow"
        assert imported["tracking_uri"] == facts["tracking_uri"]
        assert imported["run_id"] == expected["run_id"] and imported["source"] == expected["source"], where
        assert imported["creator"] == expected["creator"], where
        assert imported["created_at"] == rfc3339(expected["created_ms"]), where
        assert imported["stage"] == expected["stage"], where
        assert imported["model_id"] == expected.get("model_id"), where
        assert imported["run"]["deleted"] is expected["run_deleted"], where
        assert "git" not in got.lineage and "environment" not in got.lineage  # not this machine's
        # Every byte, as modelreg hands it out.
        out = tmp_path / "export" / f"{got.name}-{got.version}"
        result = cli("export", f"{got.name}@{got.version}", out, "-R", reg)
        assert result.exit_code == 0, result.stderr
        assert files_of(out) == expected["files"], where
    for name, model in facts["models"].items():
        state = registry.state(TARGETS[name])
        assert state.index.description == model["description"]
        assert state.index.tags == model["tags"]
    number = {k: v.version for k, v in versions.items()}
    for name in facts["models"]:  # the aliases modelreg can hold, at the versions imported from theirs
        expected = {alias: number[(name, mlv)] for alias, mlv in ALIASES[name].items()}
        assert registry.aliases(TARGETS[name]) == expected, name
    result = cli("verify", "-R", reg, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"], result.stdout
