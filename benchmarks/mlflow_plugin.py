"""MLflow's client on a modelreg registry against MLflow's own registries, in one run.

The same model (a small pyfunc) is registered in three registries: a modelreg registry through
the plugin (``modelreg://``), MLflow's sqlite store, and (with ``--server``) an ``mlflow server``
on loopback backed by sqlite. Each has ``--models`` other models of ``--versions`` versions
beside it. Timed, in one process, warm (the first call of each is left out):

- ``get_model_version_by_alias``: ``MlflowClient(registry_uri=...).get_model_version_by_alias``
- ``load_model``: ``mlflow.pyfunc.load_model("models:/bench@champion")`` (download + load)

Calls are interleaved: in each round every registry answers once, in an order rotated between
rounds, so a change of machine load falls on all of them alike. Figures are medians; ratios are
plugin / peer (below 1: the plugin is faster). The machine load is printed before and after.

    python benchmarks/mlflow_plugin.py                   # plugin vs sqlite
    python benchmarks/mlflow_plugin.py --server          # and vs an MLflow server
    python benchmarks/mlflow_plugin.py --rounds 50 --json out.json

Needs the MLflow extra with the full ``mlflow`` package (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient


class Scaled(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def predict(self, context: Any, model_input: Any, params: Any = None) -> list[int]:
        return [int(x) * self.factor for x in model_input]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(client: MlflowClient, source: str, run_id: str | None, models: int, versions: int) -> None:
    for m in range(models):
        name = f"other-{m}"
        client.create_registered_model(name)
        for _ in range(versions):
            client.create_model_version(name, source, run_id=run_id)
    client.create_registered_model("bench")
    for _ in range(versions):
        client.create_model_version("bench", source, run_id=run_id)
    client.set_registered_model_alias("bench", "champion", str(versions))


def start_server(base: Path, workers: int | None = 1) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` on loopback over sqlite; ``workers=None`` keeps the server's default."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{base / 'server.db'}",
        "--artifacts-destination",
        str(base / "server-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(["--workers", str(workers)] if workers is not None else []),
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise SystemExit("mlflow server did not start:\n" + (base / "server.log").read_text()[-2000:])
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--models", type=int, default=20, help="other models in each registry")
    parser.add_argument("--versions", type=int, default=3, help="versions of each model")
    parser.add_argument("--server", action="store_true", help="also an MLflow server backed by sqlite")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    from modelreg import Registry

    base = Path(tempfile.mkdtemp(prefix="mlflow-plugin-bench-"))
    server = None
    try:
        tracking = f"sqlite:///{base / 'mlflow.db'}"
        mlflow.set_tracking_uri(tracking)
        saved = base / "model"
        mlflow.pyfunc.save_model(saved, python_model=Scaled(2), pip_requirements=["mlflow"])
        experiment = mlflow.create_experiment("bench", artifact_location=(base / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(saved), "model")
        source = f"runs:/{run.info.run_id}/model"
        Registry.init(base / "reg")
        registries = {"plugin": f"modelreg://{base / 'reg'}", "sqlite": tracking}
        if args.server:
            server, url = start_server(base)
            registries["server"] = url
        print(f"setting up {len(registries)} registries ({args.models + 1} models x {args.versions} versions)...")
        for label, uri in registries.items():
            if label == "server":
                client = MlflowClient(tracking_uri=uri, registry_uri=uri)
                run_id = client.create_run(client.get_experiment_by_name("Default").experiment_id).info.run_id
                client.log_artifacts(run_id, str(saved), "model")
                populate(client, f"runs:/{run_id}/model", run_id, args.models, args.versions)
            else:
                client = MlflowClient(tracking_uri=tracking, registry_uri=uri)
                populate(client, source, run.info.run_id, args.models, args.versions)

        clients = {
            label: MlflowClient(tracking_uri=tracking if label != "server" else uri, registry_uri=uri)
            for label, uri in registries.items()
        }

        def by_alias(label: str) -> Callable[[], Any]:
            return lambda: clients[label].get_model_version_by_alias("bench", "champion")

        def load_model(label: str) -> Callable[[], Any]:
            def go() -> None:
                mlflow.set_registry_uri(registries[label])
                mlflow.set_tracking_uri(tracking if label != "server" else registries[label])
                model = mlflow.pyfunc.load_model("models:/bench@champion")
                assert model.predict([1]) == [2]

            return go

        operations = {"get_model_version_by_alias": by_alias, "load_model": load_model}
        labels = list(registries)
        print(load())
        samples: dict[str, dict[str, list[float]]] = {op: {label: [] for label in labels} for op in operations}
        for op, make in operations.items():
            for label in labels:
                make(label)()  # warm: stores built, modules imported, caches filled
            for r in range(args.rounds):
                order = labels[r % len(labels) :] + labels[: r % len(labels)]
                for label in order:
                    samples[op][label].append(timed(make(label)))
        print(load())
        figures: dict[str, Any] = {"rounds": args.rounds, "load_after": os.getloadavg(), "operations": {}}
        for op in operations:
            medians = {label: statistics.median(samples[op][label]) for label in labels}
            ratios = {f"plugin/{label}": medians["plugin"] / medians[label] for label in labels if label != "plugin"}
            figures["operations"][op] = {"median_s": medians, "ratios": ratios}
            shown = "  ".join(f"{label} {medians[label] * 1000:8.2f} ms" for label in labels)
            ratio_text = "  ".join(f"{k} {v:5.2f}" for k, v in ratios.items())
            print(f"{op:28} {shown}   {ratio_text}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
