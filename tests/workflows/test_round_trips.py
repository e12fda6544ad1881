"""The guides' workflows end to end: deployment and the MLflow-style demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTHOR
from support.core import (
    Drive,
    as_path,
    assert_error,
    assert_version_object,
    jdoc,
    make_driver,
    read_tree,
    sha,
)


@pytest.fixture
def drive(request: pytest.FixtureRequest, cli: Any, run: Any, tmp_path: Path) -> Drive:
    """Parametrised indirectly with "clirunner", "python-m" or "console-script"."""
    return make_driver(request.param, cli, run, tmp_path)


ALL_DRIVERS = ["clirunner", "python-m", "console-script"]


@pytest.mark.parametrize("drive", ALL_DRIVERS, indirect=True)
def test_deployment_guide_round_trip(drive: Drive, tmp_path: Path, make_file: Any) -> None:
    reg = tmp_path / "registry"
    created = jdoc(drive("init", reg, "--json"))
    assert created["created"] is True and Path(created["path"]) == reg.resolve()

    v1_model = make_file(tmp_path / "train1" / "model.pkl", 5000)
    v2_dir = tmp_path / "train2"
    v2_files = {"model.pkl": os.urandom(7000), "preprocess/scaler.json": b'{"mean": 0.5}'}
    for rel, data in v2_files.items():
        make_file(v2_dir / rel, data)

    r1 = jdoc(drive("register", "lead_scoring", v1_model, "--metric", "accuracy=0.8", "-R", reg, "--json"))
    assert_version_object(r1, "lead_scoring", 1)
    assert r1["metrics"] == {"accuracy": 0.8}
    assert r1["stage"] == "development"
    assert [(f["path"], f["size"], f["digest"]) for f in r1["files"]] == [
        ("model.pkl", 5000, sha(v1_model.read_bytes()))
    ]

    r2 = jdoc(drive("register", "lead_scoring", v2_dir, "--metric", "accuracy=0.85", "-R", reg, "--json"))
    assert_version_object(r2, "lead_scoring", 2)
    assert r2["metrics"] == {"accuracy": 0.85}
    assert sorted((f["path"], f["size"], f["digest"]) for f in r2["files"]) == sorted(
        (rel, len(data), sha(data)) for rel, data in v2_files.items()
    )

    promoted = jdoc(drive("promote", "lead_scoring@2", "production", "-R", reg, "--json"))
    assert (promoted["version"], promoted["stage"]) == (2, "production")
    assert promoted["changed"] is True and promoted["from_stage"] == "development"

    prod = jdoc(drive("get-production", "lead_scoring", "-R", reg, "--json"))
    assert_version_object(prod, "lead_scoring", 2)
    assert prod["stage"] == "production"
    assert prod["metrics"] == {"accuracy": 0.85}
    assert prod["digest"] == r2["digest"] and prod["files"] == r2["files"]
    assert read_tree(as_path(prod["path"], tmp_path)) == v2_files

    out = drive("get-production", "lead_scoring", "--path", "-R", reg)
    assert out.code == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert len(lines) == 1, "--path prints only the directory"
    cache_dir = as_path(lines[0], tmp_path)
    assert cache_dir.resolve().is_relative_to(reg.resolve()), "the files sit inside the registry's cache"
    assert read_tree(cache_dir) == v2_files

    dest = tmp_path / "deploy"
    out = drive("get-production", "lead_scoring", "--output", dest, "-R", reg)
    assert out.code == 0, out.stderr
    assert read_tree(dest) == v2_files

    human = drive("get-production", "lead_scoring", "-R", reg)
    assert human.code == 0 and "lead_scoring@2" in human.stdout and "production" in human.stdout

    models = jdoc(drive("list", "-R", reg, "--json"))["models"]
    assert [(m["name"], m["latest_version"], m["stages"]["production"]) for m in models] == [("lead_scoring", 2, 2)]
    assert models[0]["stages"]["development"] == [1]


@pytest.mark.parametrize("drive", ALL_DRIVERS, indirect=True)
def test_mlflow_demo_workflow(drive: Drive, tmp_path: Path, make_file: Any) -> None:
    name = "sk-learn-random-forest-reg-model"
    reg = tmp_path / "mlruns-registry"
    jdoc(drive("init", reg, "--json"))
    m1 = make_file(tmp_path / "rf1" / "model.pkl", 3000)
    m2 = make_file(tmp_path / "rf2" / "model.pkl", 3001)
    assert jdoc(drive("register", name, m1, "-m", "rmse=0.3", "-R", reg, "--json"))["version"] == 1
    assert jdoc(drive("register", name, m2, "-m", "rmse=0.25", "-R", reg, "--json"))["version"] == 2

    assert jdoc(drive("promote", f"{name}@1", "production", "-R", reg, "--json"))["stage"] == "production"
    assert jdoc(drive("promote", f"{name}@2", "staging", "-R", reg, "--json"))["stage"] == "staging"

    # Load by stage.
    in_prod = jdoc(drive("show", f"{name}@production", "-R", reg, "--json"))
    in_staging = jdoc(drive("show", f"{name}@staging", "-R", reg, "--json"))
    assert (in_prod["version"], in_prod["stage"], in_prod["files"][0]["digest"]) == (
        1,
        "production",
        sha(m1.read_bytes()),
    )
    assert (in_staging["version"], in_staging["stage"], in_staging["files"][0]["digest"]) == (
        2,
        "staging",
        sha(m2.read_bytes()),
    )

    # Model-level and version-level descriptions.
    model_desc = "This model forecasts the power output of a wind farm."
    v1_desc = "A random forest with 100 decision trees, trained with scikit-learn."
    ann = jdoc(drive("annotate", name, "--description", model_desc, "-R", reg, "--json"))
    assert (ann["version"], ann["description"], ann["changed"]) == (None, model_desc, True)
    ann = jdoc(drive("annotate", f"{name}@1", "--description", v1_desc, "-R", reg, "--json"))
    assert (ann["version"], ann["description"], ann["changed"]) == (1, v1_desc, True)
    model = jdoc(drive("show", name, "-R", reg, "--json"))
    assert model["description"] == model_desc
    assert [(v["version"], v["description"]) for v in model["versions"]] == [(1, v1_desc), (2, "")]
    assert jdoc(drive("show", f"{name}@1", "-R", reg, "--json"))["description"] == v1_desc

    # v2 to production archives v1, as its own audit entry.
    moved = jdoc(drive("promote", f"{name}@2", "production", "-R", reg, "--json"))
    assert (moved["version"], moved["stage"], moved["from_stage"]) == (2, "production", "staging")
    assert moved["archived"] == [1]
    v1 = jdoc(drive("show", f"{name}@1", "-R", reg, "--json"))
    assert v1["stage"] == "archived"
    archive_entries = [e for e in v1["history"] if e["action"] == "archive"]
    assert len(archive_entries) == 1
    assert (archive_entries[0]["from_stage"], archive_entries[0]["to_stage"]) == ("production", "archived")
    assert archive_entries[0]["version"] == 1 and archive_entries[0]["actor"] == AUTHOR
    v2 = jdoc(drive("show", f"{name}@2", "-R", reg, "--json"))
    moves = [(e["from_stage"], e["to_stage"]) for e in v2["history"] if e["action"] == "promote"]
    assert moves == [("development", "staging"), ("staging", "production")]
    assert jdoc(drive("get-production", name, "-R", reg, "--json"))["version"] == 2
    listed = jdoc(drive("list", name, "-R", reg, "--json"))["versions"]
    assert [(v["version"], v["stage"]) for v in listed] == [(1, "archived"), (2, "production")]
    stages = jdoc(drive("list", "-R", reg, "--json"))["models"][0]["stages"]
    assert stages == {"development": [], "staging": [], "production": 2, "archived": [1]}
    # Nothing is left in staging now.
    assert_error(drive("show", f"{name}@staging", "-R", reg), 3, json_mode=False, needles=("staging",))
