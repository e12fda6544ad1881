"""`import mlflow` fetches a version's files only from the store's own artifact locations: a
source naming a file elsewhere, a path climbing out of its run, or another host is skipped,
reported and warned about, and its bytes never enter the registry."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

from support.mlflow_stores import _restored
from support.procs import child_env, modelreg_cmd

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the registry\n"


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(SECRET)

    do_HEAD = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that would hand out the secret and records every request it gets."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    finally:
        server.shutdown()


def _store(base: Path, elsewhere: str) -> tuple[str, dict[str, int]]:
    """A sqlite store with one run whose model version 1 is sound; the others name the secret."""
    from mlflow import MlflowClient

    secret_dir = base / "home" / ".ssh"
    secret_dir.mkdir(parents=True)
    (secret_dir / "id_ed25519").write_bytes(SECRET)
    model = base / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"the real weights")
    (base / "store").mkdir()
    uri = f"sqlite:///{base / 'store' / 'mlflow.db'}"
    with _restored():
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        exp = client.create_experiment("e", artifact_location=(base / "store" / "artifacts").as_uri())
        run_id = client.create_run(exp).info.run_id
        client.log_artifacts(run_id, str(model), artifact_path="model")
        # A link inside the run's artifacts that points at the secret.
        artifacts = base / "store" / "artifacts" / run_id / "artifacts"
        (artifacts / "linked").mkdir()
        (artifacts / "linked" / "key").symlink_to(secret_dir / "id_ed25519")
        client.set_terminated(run_id)
        client.create_registered_model("m")
        sources = {
            "sound": f"runs:/{run_id}/model",
            "file uri": secret_dir.as_uri(),
            "absolute path": str(secret_dir),
            "climbing runs uri": f"runs:/{run_id}/../../../../home/.ssh",
            "encoded climb": (artifacts / "model").as_uri() + "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/home/.ssh",
            "link inside": f"runs:/{run_id}/linked",
            "another host": f"{elsewhere}/model",
            "s3 bucket": "s3://someone-elses-bucket/model",
        }
        numbers = {}
        for what, source in sources.items():
            numbers[what] = int(client.create_model_version("m", source, run_id=run_id).version)
    return uri, numbers


def test_only_the_stores_own_artifacts_are_fetched(
    tmp_path: Path, reg_path: Path, recorder: tuple[str, list[str]]
) -> None:
    import subprocess

    url, hits = recorder
    uri, numbers = _store(tmp_path, url)
    env = child_env({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "user-key", "AWS_SECRET_ACCESS_KEY": "user-secret"})
    proc = subprocess.run(
        modelreg_cmd("import", "mlflow", "--tracking-uri", uri, "-R", reg_path, "--json"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(i["mlflow_version"], i["version"]) for i in report["imported"]] == [(numbers["sound"], 1)]
    skipped = {s["mlflow_version"]: s["reason"] for s in report["skipped"]}
    refused = {what: n for what, n in numbers.items() if what != "sound"}
    assert set(skipped) == set(refused.values())
    for what, n in refused.items():
        assert "outside the store's artifact locations" in skipped[n], (what, skipped[n])
        assert f"MLflow m version {n} not imported: its source" in proc.stderr, what
    # Nothing was asked of another host, with or without the user's credentials.
    assert hits == []
    # The secret's bytes are nowhere in the registry.
    for path in reg_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert SECRET not in path.read_bytes(), path
    shown = subprocess.run(
        modelreg_cmd("show", "m@1", "-R", reg_path, "--json"), capture_output=True, text=True, env=env, check=False
    )
    assert [f["path"] for f in json.loads(shown.stdout)["files"]] == ["weights.bin"]


def test_a_dry_run_reports_the_same_refusals(tmp_path: Path, reg_path: Path, recorder: tuple[str, list[str]]) -> None:
    import subprocess

    url, hits = recorder
    uri, numbers = _store(tmp_path, url)
    proc = subprocess.run(
        modelreg_cmd("import", "mlflow", "--tracking-uri", uri, "-R", reg_path, "--dry-run", "--json"),
        capture_output=True,
        text=True,
        env=child_env({"AWS_ENDPOINT_URL": url}),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [i["mlflow_version"] for i in report["imported"]] == [numbers["sound"]]
    assert all("outside the store's artifact locations" in s["reason"] for s in report["skipped"])
    assert proc.stderr.count("would not be imported: its source") == len(numbers) - 1
    assert hits == []
