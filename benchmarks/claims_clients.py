"""The clients of the claims sweep, and its MLflow side.

Run by ``claims.py`` as one process per client (never by hand):

    python benchmarks/claims_clients.py modelreg-cli GATE ROOT SRC N      # N fresh `modelreg register` processes
    python benchmarks/claims_clients.py modelreg-lib GATE ROOT SRC N      # N `Registry.register` calls, one process
    python benchmarks/claims_clients.py mlflow GATE URL NAME N            # N register_model calls on an MLflow server

Every client does its slow set-up first (imports, the MLflow run and its artifact), then writes
``GATE.<pid>.ready`` and waits until GATE exists, so all of them start registering at the same
instant. Each prints one JSON list: per register, the number it was given (or null), the claim
attempts (modelreg with an engine), the seconds it took and the error (type and first line) if any.

``mlflow_sweep`` below starts those clients against one ``mlflow server`` and reads the server's
own answer afterwards (``search_model_versions``) to count duplicates, gaps, lost and ghost versions.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
MODEL = "churn"


# -- the barrier -----------------------------------------------------------------------------------


def wait_at_gate(gate: Path) -> None:
    (gate.parent / f"{gate.name}.{os.getpid()}.ready").touch()
    while not gate.exists():
        time.sleep(0.005)


def release(procs: list[subprocess.Popen[str]], gate: Path, timeout: float = 600) -> float:
    """Wait until every client is at the gate, open it; the clock starts here (perf_counter)."""
    deadline = time.monotonic() + timeout
    while len(list(gate.parent.glob(f"{gate.name}.*.ready"))) < len(procs):
        failed = [p for p in procs if p.poll() is not None]
        if failed:
            _, err = failed[0].communicate()
            raise SystemExit(f"a client ended before the gate (exit {failed[0].returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            raise SystemExit("the clients never reached the gate")
        time.sleep(0.01)
    gate.touch()
    return time.perf_counter()


def collect(procs: list[subprocess.Popen[str]], started: float) -> tuple[float, list[dict[str, Any]]]:
    """Every client's registers, and the wall time from the gate to the last client's end."""
    records: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"a client crashed (exit {proc.returncode}): {err[-2000:]}")
        records.extend(json.loads(out))
    return time.perf_counter() - started, records


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


# -- what a sweep's registers add up to --------------------------------------------------------------


def outcome(records: list[dict[str, Any]], stored: list[int]) -> dict[str, Any]:
    """Counts over what the clients were told (``records``) and what the registry holds (``stored``)."""
    told = [r["version"] for r in records if r["version"] is not None]
    told_twice = sum(n - 1 for n in Counter(told).values() if n > 1)
    stored_twice = sum(n - 1 for n in Counter(stored).values() if n > 1)
    top = max(stored, default=0)
    errors = Counter(r["error"].split(":")[0] for r in records if r["error"])
    attempts = [r["attempts"] for r in records if r.get("attempts") is not None]
    seconds = sorted(r["seconds"] for r in records)
    return {
        "registers": len(records),
        "ok": len(told),
        "errors": sum(errors.values()),
        "errors_by_type": dict(errors),
        "error_example": next((r["error"] for r in records if r["error"]), None),
        "duplicates_told": told_twice,
        "duplicates_stored": stored_twice,
        "stored": len(stored),
        "gaps": len(set(range(1, top + 1)) - set(stored)),
        "lost": len(set(told) - set(stored)),
        "ghosts": len(set(stored) - set(told)),
        "attempts_mean": round(sum(attempts) / len(attempts), 2) if attempts else None,
        "attempts_max": max(attempts) if attempts else None,
        "register_median_s": round(seconds[len(seconds) // 2], 3) if seconds else None,
        "register_max_s": round(seconds[-1], 3) if seconds else None,
    }


# -- the MLflow side ---------------------------------------------------------------------------------


def start_mlflow(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` on loopback, sqlite backend, its default number of workers."""
    sys.path.insert(0, str(HERE.parent))
    with warnings.catch_warnings():  # its example model's type hints draw a warning at import
        warnings.simplefilter("ignore")
        import mlflow_plugin  # the sibling benchmark: start_server, stop

    base.mkdir(parents=True, exist_ok=True)
    return mlflow_plugin.start_server(base, workers=None)


def stop_mlflow(proc: subprocess.Popen[bytes]) -> None:
    import mlflow_plugin

    mlflow_plugin.stop(proc)


def mlflow_sweep(url: str, name: str, clients: int, registers: int, work: Path) -> dict[str, Any]:
    """CLIENTS processes calling register_model REGISTERS times each for one model NAME at once."""
    work.mkdir(parents=True, exist_ok=True)
    gate = work / "gate"
    procs = [spawn(["mlflow", str(gate), url, name, str(registers)]) for _ in range(clients)]
    started = release(procs, gate)
    wall, records = collect(procs, started)
    from mlflow import MlflowClient

    found = MlflowClient(tracking_uri=url, registry_uri=url).search_model_versions(f"name='{name}'", max_results=10000)
    stored = [int(v.version) for v in found]
    return {"wall_seconds": round(wall, 2), **outcome(records, stored)}


def mlflow_client(gate: Path, url: str, name: str, n: int) -> list[dict[str, Any]]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    # A tiny artifact in a run of this client's own: the source its versions point at.
    default = client.get_experiment_by_name("Default")
    assert default is not None, "the server has no Default experiment"
    run = client.create_run(default.experiment_id)
    weights = gate.parent / f"weights-{os.getpid()}.bin"
    weights.write_bytes(os.urandom(1024))
    client.log_artifact(run.info.run_id, str(weights), "model")
    client.set_terminated(run.info.run_id)
    source = f"{run.info.artifact_uri}/model"
    wait_at_gate(gate)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        version, error = None, ""
        try:
            # What mlflow.register_model does for a source that is not a logged model: create the
            # registered model unless it exists, then the version, and wait until it is READY.
            try:
                client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            mv = client.create_model_version(name, source, run_id=run.info.run_id)
            version = int(mv.version)
        except Exception as exc:  # counted, not fatal: the outcome is what is measured
            code = getattr(exc, "error_code", "")
            error = f"{type(exc).__name__}{f'({code})' if code else ''}: {first_line(str(exc))}"
        out.append({"version": version, "attempts": None, "seconds": time.perf_counter() - start, "error": error})
    return out


# -- the modelreg clients ----------------------------------------------------------------------------


def modelreg_cli_client(gate: Path, root: str, src: str, n: int) -> list[dict[str, Any]]:
    wait_at_gate(gate)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "modelreg", "-R", root, "register", MODEL, src, "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode == 0:
            answer = json.loads(done.stdout)
            attempts = answer.get("claim_attempts")
            out.append({"version": answer["version"], "attempts": attempts, "seconds": seconds, "error": ""})
        else:
            error = f"exit {done.returncode}: {first_line(done.stderr)}"
            out.append({"version": None, "attempts": None, "seconds": seconds, "error": error})
    return out


def modelreg_lib_client(gate: Path, root: str, src: str, n: int) -> list[dict[str, Any]]:
    from modelreg import Registry

    registry = Registry.open(Path(root))
    wait_at_gate(gate)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        try:
            result = registry.register(MODEL, [src])
            version, attempts, error = result.version.version, result.claim_attempts, ""
        except Exception as exc:  # counted, not fatal
            version, attempts, error = None, None, f"{type(exc).__name__}: {first_line(str(exc))}"
        out.append({"version": version, "attempts": attempts, "seconds": time.perf_counter() - start, "error": error})
    return out


def stored_versions(root: Path) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-m", "modelreg", "-R", str(root), "list", MODEL, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"modelreg -R {root} list {MODEL} failed: {done.stderr}")
    return [int(v["version"]) for v in json.loads(done.stdout)["versions"]]


CLIENTS = {"mlflow": mlflow_client, "modelreg-cli": modelreg_cli_client, "modelreg-lib": modelreg_lib_client}

if __name__ == "__main__":
    mode, gate_arg, a, b, count = sys.argv[1:6]
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints links to its runs on stdout
        answer = CLIENTS[mode](Path(gate_arg), a, b, int(count))
    print(json.dumps(answer))
