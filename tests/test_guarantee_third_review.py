"""A third adversarial review (terminal output, S3, the report, the MLflow import): each test
reproduces what it found.

Registry text is shown, never obeyed by the terminal; an S3 endpoint that accepts connections and
never answers fails in seconds, not minutes; `report --output` never writes through a link or
among the registry's records; an MLflow URI modelreg cannot read is bad input, not a bug.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from governance_helpers import ok, refused
from procs import run_modelreg as _modelreg

from modelreg import Registry

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"


# -- terminal output --------------------------------------------------------------------------------


@pytest.fixture
def hostile(reg_path: Path, make_file: Any, tmp_path: Path) -> Path:
    reg = Registry(reg_path)
    reg.register("m", [make_file(tmp_path / "w.bin", "w")], description=f"hi{ESCAPES}", tags={"k": f"a{ESCAPES}"})
    reg.promote("m@1", "staging", reason=f"r{ESCAPES}")
    return reg_path


@pytest.mark.parametrize("args", [["show", "m"], ["show", "m@1"], ["log", "m"]], ids=" ".join)
def test_control_characters_from_the_registry_never_reach_the_terminal(hostile: Path, args: list[str]) -> None:
    proc = _modelreg(*args, "-R", hostile)
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout + proc.stderr
    for ch in "\x1b\x07\x9b\u202e":
        assert ch not in shown, (args, repr(shown))
    assert "\\x1b" in proc.stdout  # shown as text: a reader sees that something odd is there


def test_control_characters_in_an_error_are_shown_as_text(reg_path: Path) -> None:
    proc = _modelreg("show", f"nosuch{ESCAPES}", "-R", reg_path)
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and "\\x1b" in proc.stderr, repr(proc.stderr)


def test_json_keeps_the_values_exactly(hostile: Path) -> None:
    import json

    proc = _modelreg("show", "m@1", "--json", "-R", hostile)
    assert json.loads(proc.stdout)["description"] == f"hi{ESCAPES}"


# -- an S3 endpoint that never answers ----------------------------------------------------------------


def test_an_s3_endpoint_that_never_answers_fails_in_seconds(reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(listener.accept()[0])  # and never answer
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        config = reg_path / "modelreg.toml"
        config.write_text(
            config.read_text().replace(
                "[remote]", f'[remote]\nurl = "s3://models/reg"\nendpoint_url = "http://127.0.0.1:{port}"'
            )
        )
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}
        Registry(reg_path).register("m", [make_file(tmp_path / "w.bin", "w")])
        for command in ("push", "pull"):
            if command == "pull":  # a pull asks the remote only for what is missing here
                import shutil

                shutil.rmtree(reg_path / "blobs")
                (reg_path / "blobs").mkdir()
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "modelreg", command, "-R", str(reg_path)],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, **env},
                check=False,
            )
            took = time.monotonic() - started
            assert proc.returncode == 4 and proc.stderr.startswith("error: "), proc.stderr
            assert took < 90, f"{command} took {took:.0f} s to give up"
    finally:
        done.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


# -- report --output --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["dangling", "to-empty"])
def test_report_never_writes_through_a_link_named_as_its_output(
    cli: Any, reg_path: Path, tmp_path: Path, target: str
) -> None:
    (tmp_path / "empty").mkdir()
    link = tmp_path / "site"
    link.symlink_to(tmp_path / "nowhere" / "x" if target == "dangling" else tmp_path / "empty")
    before = snapshot(tmp_path, ignore=("reg/.modelreg",))
    line = refused(cli("report", "--output", link, "-R", reg_path), 2)
    assert "symbolic link" in line
    assert snapshot(tmp_path, ignore=("reg/.modelreg",)) == before
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("inside", ["models/site", "blobs/site", ".modelreg/site", "models/m/versions/x"])
def test_report_refuses_a_place_among_the_registrys_records(cli: Any, reg_path: Path, inside: str) -> None:
    line = refused(cli("report", "--output", reg_path / inside, "-R", reg_path), 2)
    assert "inside the registry" in line
    assert not (reg_path / inside).exists()


# -- import mlflow ----------------------------------------------------------------------------------


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
    from mlflow_checks import do_import
    from mlflow_fixture import add_version

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
