"""`import mlflow` run again: after MLflow changed (a new version, stages, aliases, annotations),
after a version was registered here in between, and after an import was killed half way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

from support.mlflow_checks import by_origin, check_registry, do_import, importable, only
from support.mlflow_stores import add_version, build, session_store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return session_store(tmp_path_factory)


def registers(reg: Path) -> list[dict[str, Any]]:
    lines = (reg / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["action"] == "register"]


def test_second_run_imports_only_the_new_and_updates_the_rest(
    tmp_path: Path, reg_path: Path, cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    facts = build(tmp_path / "store", "sqlite")  # this test changes MLflow: its own store
    uri = facts["tracking_uri"]
    do_import(cli, reg_path, "--tracking-uri", uri)
    # Between the runs, a version registered here: numbers here and in MLflow part ways.
    native = make_file(tmp_path / "native.bin", b"trained here")
    assert cli("register", "churn", native, "-R", reg_path).exit_code == 0
    assert cli("alias", "churn@1", "legacy", "-R", reg_path).exit_code == 0
    assert cli("annotate", "churn@2", "--tag", "reviewed=yes", "-R", reg_path).exit_code == 0
    # MLflow moves on.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    new = add_version(uri, facts["experiment_id"], "churn", 5, tmp_path / "work")
    assert new["version"] == 5
    client.transition_model_version_stage("churn", "5", "Production", archive_existing_versions=True)
    client.transition_model_version_stage("churn", "4", "Staging")
    client.set_registered_model_alias("churn", "champion", "5")
    client.delete_registered_model_alias("churn", "challenger")
    client.set_registered_model_alias("churn", "eu-canary", "4")
    client.update_model_version("churn", "3", description="Kept for the holdout study.")
    client.set_model_version_tag("churn", "1", "retired-by", "ops")
    client.update_registered_model("churn", description="Churn on the 2027 feature set.")
    audit_before = len(registers(reg_path))

    report = do_import(cli, reg_path, "--tracking-uri", uri)
    assert [(i["model"], i["version"], i["mlflow_version"]) for i in report["imported"]] == [("churn", 6, 5)]
    assert len(registers(reg_path)) == audit_before + 1  # nothing imported twice

    from modelreg import Registry

    registry = Registry.open(reg_path)
    origin = {k: v.version for k, v in by_origin(reg_path).items()}
    assert [origin[("churn", n)] for n in range(1, 6)] == [1, 2, 3, 4, 6]
    stages = {v.version: v.stage for v in registry.versions("churn")}
    assert stages == {1: "archived", 2: "archived", 3: "staging", 4: "staging", 5: "development", 6: "production"}
    assert registry.aliases("churn") == {"champion": 6, "eu-canary": 4, "legacy": 1}  # made here: kept
    got = registry.resolve("churn@6")
    assert {f.path: f.digest for f in got.files} == new["files"]
    assert got.metrics == new["metrics"] and got.params == new["params"]
    assert got.lineage["imported"]["version"] == 5 and got.lineage["imported"]["run_id"] == new["run_id"]
    assert registry.resolve("churn@3").description == "Kept for the holdout study."
    assert registry.resolve("churn@1").tags == {"data": "2026-01", "retired-by": "ops"}
    assert registry.resolve("churn@2").tags == {"data": "2026-02", "validated": "true", "reviewed": "yes"}
    assert registry.state("churn").index.description == "Churn on the 2027 feature set."
    changes = {(u["version"], u["field"], json.dumps(u["new"])) for u in report["updated"]}
    assert (4, "stage", '"staging"') in changes
    assert (6, "alias", '{"champion": 6}') in changes and (4, "alias", '{"eu-canary": 4}') in changes
    assert (3, "alias", '{"challenger": null}') in changes
    assert (3, "description", '"Kept for the holdout study."') in changes
    assert (None, "description", '"Churn on the 2027 feature set."') in changes
    # Every change names its origin in the audit log.
    log = json.loads(cli("log", "churn", "-R", reg_path, "--json").stdout)["entries"]
    moves = [e for e in log if e["action"] in ("promote", "alias") and e["time"] > log[0]["time"]]
    assert any(e["action"] == "promote" and e["version"] == 4 and "import mlflow" in e["reason"] for e in moves)

    # A third run: nothing to do, not a line added to the audit log.
    audit = (reg_path / "audit.jsonl").read_bytes()
    third = do_import(cli, reg_path, "--tracking-uri", uri)
    assert third["imported"] == [] and third["updated"] == []
    assert (reg_path / "audit.jsonl").read_bytes() == audit
    assert cli("verify", "-R", reg_path).exit_code == 0


# The kill tests import two models (six versions): enough to land in the middle, and quicker.
MODELS = ("churn", "ranker")


def _import_proc(uri: str, reg: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    selection = [arg for name in MODELS for arg in ("--model", name)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelreg",
            "import",
            "mlflow",
            "--tracking-uri",
            uri,
            "-R",
            str(reg),
            "--json",
            *selection,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _resumed(store: dict[str, Any], reg: Path, cli: Callable[..., Any], tmp_path: Path, before: int) -> None:
    """The next run completes the import: every version once, and nothing left behind."""
    store = only(store, *MODELS)
    proc = _import_proc(store["tracking_uri"], reg)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert len(report["imported"]) == len(importable(store)) - before
    assert len(registers(reg)) == len(importable(store))
    check_registry(reg, store, cli, tmp_path)  # also fails on a version imported twice
    assert not (reg / ".modelreg" / "imports").exists()


@pytest.mark.slow
def test_import_killed_midway_resumes_and_imports_nothing_twice(
    store: dict[str, Any], reg_path: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    proc = _import_proc(store["tracking_uri"], reg_path)
    deadline = time.monotonic() + 120
    while len(registers(reg_path)) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    done = len(registers(reg_path))
    assert 3 <= done < len(importable(only(store, *MODELS))), "the kill must land half way"
    _resumed(store, reg_path, cli, tmp_path, done)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-blobs", "after-journal"])
def test_import_crashed_inside_a_register_resumes(
    store: dict[str, Any], reg_path: Path, cli: Callable[..., Any], tmp_path: Path, point: str
) -> None:
    """Killed (os._exit, as kill -9) after storing the first version's blobs, or after
    journaling its change: the next run finishes or redoes it, and goes on."""
    proc = _import_proc(store["tracking_uri"], reg_path, {"MODELREG_TEST_CRASH_AT": point})
    proc.communicate(timeout=300)
    assert proc.returncode == 137
    leftover = list((reg_path / ".modelreg" / "imports").iterdir())
    assert leftover, "the killed import's downloads are still there"
    _resumed(store, reg_path, cli, tmp_path, 1 if point == "after-journal" else 0)
