"""which ID: a prediction id back to the version that made it and the environments serving it
then; a thousand ids, and a real model server on loopback queried and resolved end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.governance import json_error, refused, register
from support.results import ok_doc as ok

from modelreg import Registry
from modelreg.serving import identity, prediction_id

HERE = Path(__file__).resolve().parents[2] / "support"


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def test_a_thousand_minted_ids_resolve_to_their_version_and_environments(
    cli: Any, run: Any, reg: Registry, tmp_path: Path
) -> None:
    for _ in range(3):
        register(reg, tmp_path, "churn")
    register(reg, tmp_path, "fraud")
    copies = {ref: identity(reg.materialize(reg.resolve(ref))) for ref in ("churn@1", "churn@2", "churn@3", "fraud@1")}
    reg.deploy("churn@1", "prod-eu")
    reg.deploy("fraud@1", "prod-eu")
    minted: list[tuple[str, str, list[str]]] = []  # id, ref, environments then
    for _ in range(250):
        minted.append((prediction_id(copies["churn@1"]), "churn@1", ["prod-eu"]))
        minted.append((prediction_id(copies["fraud@1"]), "fraud@1", ["prod-eu"]))
    reg.deploy("churn@2", "prod-eu")
    reg.deploy("churn@2", "prod-us")
    for _ in range(250):
        minted.append((prediction_id(copies["churn@2"]), "churn@2", ["prod-eu", "prod-us"]))
        minted.append((prediction_id(copies["churn@3"]), "churn@3", []))  # a shadow run: deployed nowhere
    assert len(minted) == 1000 and len({m[0] for m in minted}) == 1000
    assert [m[0] for m in minted] == sorted(m[0] for m in minted)  # minted in order, sorted by time
    fresh = Registry(reg.root)
    for pid, ref, envs in minted:
        found = fresh.which(pid).to_json()
        assert f"{found['name']}@{found['version']}" == ref, pid
        assert found["environments"] == envs, pid
        assert found["digest"] == copies[ref].digest
    # The command answers the same, in-process and in a real process.
    for pid, ref, envs in minted[::97]:
        data = ok(cli("which", pid, "--json", "-R", reg.root))
        assert (f"{data['name']}@{data['version']}", data["environments"]) == (ref, envs)
        assert set(data) >= {"name", "version", "digest", "environments"}
    proc = run("which", minted[0][0], "--json", "-R", reg.root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["environments"] == ["prod-eu"]
    text = run("which", minted[-2][0], "-R", reg.root).stdout
    assert "churn@2" in text and "prod-eu, prod-us" in text


def test_unknown_and_malformed_ids(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    version = reg.resolve("churn@1")
    result = cli("which", "066102d16a67c1-3e0b12aa-" + "0" * 16, "--json", "-R", reg.root)
    assert "no version" in refused(result, 3)
    assert json_error(result)["code"] == "unknown_prediction"
    # The right digest but a moment before the version existed: it cannot have made it.
    created = time.mktime(time.strptime(version.created_at[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    before = f"{int((created - 3600) * 1_000_000):014x}-00000000-{version.digest[7:23]}"
    refused(cli("which", before, "-R", reg.root), 3)
    for bad in ("nonsense", "066102d16a67c1-3e0b12aa-abc", "066102d16a67c1-3e0b12aa-" + "g" * 16):
        result = cli("which", bad, "--json", "-R", reg.root)
        assert "invalid prediction id" in refused(result, 2)
        assert "Traceback" not in result.stderr


def test_versions_with_the_same_files_are_told_apart_by_where_they_ran(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path, "a", content="same bytes")
    register(reg, tmp_path, "b", content="same bytes")
    assert reg.resolve("a@1").digest == reg.resolve("b@1").digest
    pid = prediction_id(reg.resolve("a@1").digest)
    line = refused(cli("which", pid, "-R", reg.root), 2)
    assert "a@1" in line and "b@1" in line
    reg.deploy("b@1", "prod-eu")
    later = prediction_id(reg.resolve("a@1").digest)
    data = ok(cli("which", later, "--json", "-R", reg.root))
    assert (data["name"], data["environments"]) == ("b", ["prod-eu"])


def _start_server(served: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "toy_model_server.py"), str(served)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # waits for the server to say it listens (or to die)
    if not line.startswith("listening "):
        proc.kill()
        raise AssertionError(f"the toy server did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line.split()[1])


def _predict(port: int, x: float) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"x": x}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def test_a_model_server_on_loopback_stamps_predictions_that_which_resolves(
    run: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path)
    register(reg, tmp_path)
    assert run("deploy", "churn@1", "--env", "prod-eu", "-R", reg.root).returncode == 0
    first_copy = Path(run("get", "churn@1", "--path", "-R", reg.root).stdout.strip())
    server, port = _start_server(first_copy)
    try:
        old = [_predict(port, x) for x in range(5)]
    finally:
        server.kill()
        server.wait()
    # The rollout of version 2: recorded, then served from an exported copy (no stamp: hashed).
    assert run("deploy", "churn@2", "--env", "prod-eu", "-R", reg.root).returncode == 0
    out = tmp_path / "serve-v2"
    assert run("get", "churn@2", "--output", out, "-R", reg.root).returncode == 0

    server, port = _start_server(out, env={**os.environ, "MODELREG_REGISTRY": str(reg.root)})
    try:
        new = [_predict(port, x) for x in range(5)]
    finally:
        server.kill()
        server.wait()
    assert {p["version"] for p in old} == {1} and {p["version"] for p in new} == {2}
    ids = [p["prediction_id"] for p in old + new]
    assert ids == sorted(ids)
    for p in old + new:
        proc = run("which", p["prediction_id"], "--json", "-R", reg.root)
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)
        assert (found["name"], found["version"]) == ("churn", p["version"])
        assert found["environments"] == ["prod-eu"]
    # What ran in prod-eu when the first prediction was made, in one command.
    then = json.loads(run("which", old[0]["prediction_id"], "--json", "-R", reg.root).stdout)["at"]
    rows = json.loads(run("deployed", "--env", "prod-eu", "--at", then, "--json", "-R", reg.root).stdout)
    assert [(r["model"], r["version"]) for r in rows["deployments"]] == [("churn", 1)]


def test_a_server_refuses_to_start_on_a_drifted_copy(run: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    out = tmp_path / "serve"
    assert run("get", "churn@1", "--output", out, "-R", reg.root).returncode == 0
    (out / "model.bin").write_text("someone edited the weights")
    proc = subprocess.run(
        [sys.executable, str(HERE / "toy_model_server.py"), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "MODELREG_REGISTRY": str(reg.root)},
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0 and "IntegrityError" in proc.stderr
    assert "differs from churn@1: model.bin: content differs" in proc.stderr
