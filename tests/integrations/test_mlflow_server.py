"""`mlflow server --registry-store-uri modelreg://...`: MLflow's own server (its UI and REST API)
over a modelreg registry. What the REST API lists is what `modelreg list --json` says; a change
made over REST is an audited modelreg change, and the registry's rules refuse over REST too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")
pytest.importorskip("flask", reason="`mlflow server` needs the full mlflow package (the test extra has it)")

from support.governance import add_policy
from support.mlflow_stores import write_model

from modelreg import Registry

Cli = Callable[..., Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A registry with two models (registered by modelreg itself, one with a policy on
    production), and `mlflow server` over it on a free loopback port; always stopped."""
    base = tmp_path_factory.mktemp("mlflow-plugin-server")
    reg = base / "reg"
    registry, _ = Registry.init(reg)
    add_policy(reg, '[gates.production]\nmetrics = ["auc >= 0.99"]\n')
    registry = Registry(reg)
    for name, seed in (("churn", 1), ("churn", 2), ("fraud", 3)):
        write_model(base / f"m{seed}", seed)
        registry.register(name, base / f"m{seed}", metrics={"auc": 0.9}, author="ada")
    registry.alias("churn@2", "champion", actor="ada")
    registry.promote("churn@1", "staging", actor="ada")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = base / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{base / 'mlflow.db'}",
        "--registry-store-uri",
        f"modelreg://{reg}",
        "--artifacts-destination",
        str(base / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_AUTHOR": "rest-client",
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
            yield {"url": url, "reg": reg, "base": base}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def call(served: dict[str, Any], method: str, endpoint: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    url = f"{served['url']}/api/2.0/mlflow/{endpoint}"
    data = None
    if method == "GET" and body:
        url += "?" + urllib.parse.urlencode(body)
    elif body is not None:
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def cli_json(cli: Cli, reg: Path, *args: Any) -> Any:
    result = cli(*args, "-R", reg, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_the_rest_api_lists_the_registry(served: dict[str, Any], cli: Cli) -> None:
    status, found = call(served, "GET", "registered-models/search", {"max_results": 100})
    assert status == 200
    listed = cli_json(cli, served["reg"], "list")["models"]
    assert sorted(m["name"] for m in found["registered_models"]) == [m["name"] for m in listed]
    churn = next(m for m in found["registered_models"] if m["name"] == "churn")
    assert churn["aliases"] == [{"alias": "champion", "version": "2"}]
    assert {v["version"]: v["current_stage"] for v in churn["latest_versions"]} == {"1": "Staging", "2": "None"}
    status, versions = call(served, "GET", "model-versions/search", {"filter": "name='churn'"})
    assert status == 200
    shown = {v["version"]: v for v in cli_json(cli, served["reg"], "list", "churn")["versions"]}
    assert {v["version"] for v in versions["model_versions"]} == {str(n) for n in shown}
    for v in versions["model_versions"]:
        assert v["user_id"] == shown[int(v["version"])]["created_by"] == "ada"
    status, by_alias = call(served, "GET", "registered-models/alias", {"name": "churn", "alias": "champion"})
    assert status == 200 and by_alias["model_version"]["version"] == "2"
    status, missing = call(served, "GET", "registered-models/get", {"name": "nope"})
    assert status == 404 and missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with urllib.request.urlopen(served["url"] + "/", timeout=60) as page:  # MLflow's own UI
        assert page.status == 200 and b"<html" in page.read().lower()


def test_changes_over_rest_are_audited_modelreg_changes(served: dict[str, Any], cli: Cli) -> None:
    status, made = call(served, "POST", "registered-models/create", {"name": "made-over-rest", "description": "hi"})
    assert status == 200 and made["registered_model"]["name"] == "made-over-rest"
    shown = cli_json(cli, served["reg"], "show", "made-over-rest")
    assert shown["description"] == "hi" and shown["created_by"] == "rest-client"
    status, _ = call(
        served, "POST", "model-versions/set-tag", {"name": "fraud", "version": "1", "key": "owner", "value": "bo"}
    )
    assert status == 200
    assert cli_json(cli, served["reg"], "show", "fraud@1")["tags"] == {"owner": "bo"}
    entry = cli_json(cli, served["reg"], "log", "fraud")["entries"][-1]
    assert (entry["action"], entry["actor"]) == ("annotate", "rest-client")


def test_the_registrys_rules_refuse_over_rest(served: dict[str, Any], cli: Cli) -> None:
    status, refused = call(
        served,
        "POST",
        "model-versions/transition-stage",
        {"name": "fraud", "version": "1", "stage": "Production", "archive_existing_versions": False},
    )
    assert status == 403 and refused["error_code"] == "PERMISSION_DENIED"
    assert "auc >= 0.99" in refused["message"]
    assert cli_json(cli, served["reg"], "show", "fraud@1")["stage"] == "development"


def test_a_local_path_outside_the_runs_artifacts_is_never_copied_in(served: dict[str, Any], cli: Cli) -> None:
    secret = served["reg"].parent / "secret"
    secret.mkdir(exist_ok=True)
    (secret / "id_key").write_text("do not serve me\n")
    before = cli_json(cli, served["reg"], "list", "fraud")["versions"]
    for source in (str(secret), secret.as_uri(), f"{secret}/../secret"):
        status, refused = call(served, "POST", "model-versions/create", {"name": "fraud", "source": source})
        assert status == 400 and refused["error_code"] == "INVALID_PARAMETER_VALUE", source
    assert cli_json(cli, served["reg"], "list", "fraud")["versions"] == before


def test_files_a_tracking_server_holds_are_registered_but_local_paths_it_names_are_not(
    served: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from support.mlflow_stores import files_of

    client = MlflowClient(tracking_uri=served["url"], registry_uri=f"modelreg://{served['reg']}")
    files = tmp_path / "model"
    write_model(files, 7)
    run_id = client.create_run(client.get_experiment_by_name("Default").experiment_id).info.run_id
    client.log_artifacts(run_id, str(files), "model")  # uploaded: the server keeps them
    made = client.create_model_version("fraud", f"runs:/{run_id}/model", run_id=run_id)
    shown = cli_json(cli, served["reg"], "show", f"fraud@{made.version}")
    assert {f["path"]: f["digest"] for f in shown["files"]} == files_of(files)

    # An experiment whose artifacts the server says are at a path on this machine.
    elsewhere = tmp_path / "private"
    write_model(elsewhere / "model", 8)
    experiment = client.create_experiment("local-paths", artifact_location=elsewhere.as_uri())
    local_run = client.create_run(experiment).info.run_id
    named = client.get_run(local_run).info.artifact_uri
    assert named.startswith("file://"), named
    before = cli_json(cli, served["reg"], "list", "fraud")["versions"]
    with pytest.raises(MlflowException) as refused:
        client.create_model_version("fraud", f"runs:/{local_run}/model", run_id=local_run)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE" and "a path on this machine" in refused.value.message
    assert cli_json(cli, served["reg"], "list", "fraud")["versions"] == before
