"""import mlflow: URIs modelreg cannot read, a missing driver, renamed tag keys, a dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from support.governance import refused
from support.results import ok_doc as ok

from modelreg import Registry


@pytest.mark.parametrize("uri", ["ftp://x/y", "notaurl:::", "gopher://host/db"])
def test_an_mlflow_uri_modelreg_cannot_read_is_bad_input(cli: Any, reg_path: Path, uri: str) -> None:
    pytest.importorskip("mlflow")
    before = snapshot(reg_path, ignore=(".modelreg",))
    line = refused(cli("import", "mlflow", "--tracking-uri", uri, "-R", reg_path), 2)
    assert "internal error" not in line
    assert snapshot(reg_path, ignore=(".modelreg",)) == before


def test_a_database_store_without_its_driver_is_bad_input(cli: Any, reg_path: Path) -> None:
    pytest.importorskip("mlflow")
    try:
        import MySQLdb  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("the MySQL driver is installed here")
    except ImportError:
        pass
    line = refused(cli("import", "mlflow", "--tracking-uri", "mysql://u:p@127.0.0.1:9/db", "-R", reg_path), 2)
    assert "pip install" in line and "u:p" not in line


def test_a_model_tag_renamed_into_a_taken_key_is_reported_and_the_valid_key_wins(
    cli: Any, reg_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow")
    import mlflow
    from support.mlflow_checks import do_import
    from support.mlflow_stores import add_version

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    client.create_registered_model("churn", tags={"a b": "space", "a_b": "under", "c d": "renamed"})
    add_version(uri, experiment, "churn", 1, tmp_path / "work")
    report = do_import(cli, reg_path, "--tracking-uri", uri)
    assert Registry(reg_path).summary("churn").tags == {"a_b": "under", "c_d": "renamed"}
    skipped = {(s["what"], s["item"]): s["reason"] for s in report["skipped"]}
    assert "another key also becomes 'a_b'" in skipped[("tag", "a b")]
    assert {(r["what"], r["original"], r["name"]) for r in report["renamed"]} >= {("tag", "c d", "c_d")}


def test_a_dry_run_leaves_no_trace(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    (store / ".trash").mkdir(parents=True)
    before = snapshot(reg_path, ignore=(".modelreg/locks", ".modelreg/cache"))
    ok(cli("import", "mlflow", "--tracking-uri", store, "--dry-run", "-R", reg_path))
    assert snapshot(reg_path, ignore=(".modelreg/locks", ".modelreg/cache")) == before
