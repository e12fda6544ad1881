"""`import mlflow` from a real MLflow tracking server (REST: versions and aliases as strings,
artifacts proxied through ``mlflow-artifacts:/``), and from one that does not answer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

from support.mlflow_checks import by_origin, check_registry, do_import
from support.mlflow_stores import Builder, local_dir, session_store, write_model


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return session_store(tmp_path_factory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`mlflow server` on a copy of the session's store (its file:// artifacts stay where they
    are) that also proxies artifacts of its own, under --artifacts-destination."""
    pytest.importorskip("flask", reason="`mlflow server` needs flask and its companions (the test extra has them)")
    base = tmp_path_factory.mktemp("mlflow-server")
    shutil.copy(store["db"], base / "mlflow.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (base / "server.log").open("w")
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{base / 'mlflow.db'}",
        "--artifacts-destination",
        str(base / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (base / "server.log").read_text()[-3000:]
            time.sleep(0.2)
        yield {"url": url, "artifacts": base / "artifacts", "base": base}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def served_model(server: dict[str, Any]) -> dict[str, Any]:
    """A model whose artifacts the server holds (uploaded through it); version 2's are deleted."""
    b = Builder(server["url"], server["base"] / "work", server["artifacts"])
    exp = b.experiment(None)
    b.client.create_registered_model("served", description="Artifacts behind the server.")
    versions = []
    for v in (1, 2):
        run_id, metrics = b.run(exp, f"served-{v}", 40 + v, {"v": v}, 0.6, "ada")
        files = write_model(server["base"] / "work" / f"served-{v}", 40 + v)
        b.client.log_artifacts(run_id, str(server["base"] / "work" / f"served-{v}"), artifact_path="model")
        b.client.create_model_version("served", f"runs:/{run_id}/model", run_id=run_id)
        versions.append({"files": files, "metrics": metrics, "run_id": run_id})
    b.client.set_registered_model_alias("served", "champion", "1")
    where = b.client.get_run(versions[1]["run_id"]).info.artifact_uri + "/model"
    assert where.startswith("mlflow-artifacts:/"), where
    shutil.rmtree(local_dir(where, server["artifacts"]))
    return {"versions": versions}


@pytest.mark.slow
def test_import_from_a_tracking_server(
    store: dict[str, Any], server: dict[str, Any], reg_path: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    from support.mlflow_stores import _restored

    with _restored():
        served = served_model(server)
    # Credentials in the URI reach the server, never the registry.
    host = server["url"].removeprefix("http://")
    report = do_import(cli, reg_path, "--tracking-uri", f"http://ada:s3cret@{host}")
    assert not [p for p in reg_path.rglob("*") if p.is_file() and b"s3cret" in p.read_bytes()]
    check_registry(reg_path, {**store, "tracking_uri": server["url"]}, cli, tmp_path, extra=["served"])
    versions = by_origin(reg_path)
    got = versions[("served", 1)]
    assert {f.path: f.digest for f in got.files} == served["versions"][0]["files"]
    assert got.metrics == served["versions"][0]["metrics"]
    assert got.lineage["imported"]["run_id"] == served["versions"][0]["run_id"]
    assert ("served", 2) not in versions
    skipped = [s for s in report["skipped"] if s["mlflow_name"] == "served"]
    assert [(s["mlflow_version"], s["what"]) for s in skipped] == [(2, "version")]
    assert "artifacts cannot be fetched" in skipped[0]["reason"]
    from modelreg import Registry

    assert Registry.open(reg_path).aliases("served") == {"champion": got.version}
    again = do_import(cli, reg_path, "--tracking-uri", server["url"])
    assert again["imported"] == [] and again["updated"] == []


def test_a_server_that_does_not_answer_fails_fast(reg_path: Path, run: Callable[..., Any]) -> None:
    started = time.monotonic()
    proc = run("import", "mlflow", "--tracking-uri", f"http://127.0.0.1:{free_port()}", "-R", reg_path, "--json")
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "remote_unavailable"
    assert time.monotonic() - started < 60  # MLflow's own retries would wait about four minutes
    assert list(reg_path.glob("models/*/model.yaml")) == []
