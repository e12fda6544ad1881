"""Peer registries (MLflow, GTO) for the side-by-side benchmarks.

Only the standard library is imported here: MLflow and GTO live in a throwaway venv and
are driven through that venv's ``python`` and ``gto`` executables, so every measurement
is a fresh process, as a serving job, a Makefile or CI would see it.

Run ``python benchmarks/peers.py --selftest`` for a quick check on small histories,
or ``--full`` for the issue's sizes (50 models x 20 versions, 1 model x 1,000 versions).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

MLFLOW_SPEC = "mlflow==3.17.*"
GTO_SPEC = "gto==1.10.*"
DEFAULT_VENV = Path.home() / ".cache" / "modelreg-bench" / "peers"
PROD_ALIAS = "production"  # MLflow alias, the non-deprecated way to mark production
PROD_STAGE = "Production"  # MLflow's legacy stage, deprecated since 2.9 but still served
GTO_STAGE = "prod"
IDENTITY = ("modelreg bench", "bench@example.invalid")


class PeerError(RuntimeError):
    """A peer command failed or answered something other than what was set up."""


@dataclass(frozen=True)
class MlflowFixture:
    venv: Path
    db: Path
    names: tuple[str, ...]
    versions: int
    prod_version: int
    setup_seconds: float

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.db}"


@dataclass(frozen=True)
class GtoFixture:
    venv: Path
    repo: Path
    names: tuple[str, ...]
    versions: int
    prod_version: int
    setup_seconds: float


def model_names(models: int) -> tuple[str, ...]:
    """Names valid in modelreg, MLflow and GTO alike: all three get the same input."""
    return tuple(f"model-{i:03d}" for i in range(models))


def gto_version(n: int) -> str:
    # `gto register` with no --version bumps the patch: v0.0.1, v0.0.2, ...
    return f"v0.0.{n}"


def _bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def peer_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every peer process: no telemetry, no colour, a git identity."""
    env = dict(os.environ)
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        NO_COLOR="1",
        PYTHONWARNINGS="ignore",  # MLflow's stage API prints FutureWarnings on stderr
        GIT_AUTHOR_NAME=IDENTITY[0],
        GIT_AUTHOR_EMAIL=IDENTITY[1],
        GIT_COMMITTER_NAME=IDENTITY[0],
        GIT_COMMITTER_EMAIL=IDENTITY[1],
    )
    env.pop("PYTHONPATH", None)  # the peer venv must not see the project's modules
    env.update(extra or {})
    return env


def _run(
    cmd: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise PeerError(f"{' '.join(map(str, cmd))[:200]} exited {proc.returncode}: {tail}")
    return proc


def _timed(cmd: Sequence[str | Path], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = _run(cmd, env=env, cwd=cwd)
    return time.perf_counter() - start, proc.stdout.decode()


# -- the venv -------------------------------------------------------------------------------


def peer_versions(venv: Path) -> dict[str, str]:
    """Installed versions of the peers, or {} when the venv is missing or incomplete."""
    python = _bin(venv, "python")
    if not python.exists():
        return {}
    code = "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in ('mlflow', 'gto')}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def ensure_peer_venv(path: Path = DEFAULT_VENV) -> Path:
    """Create a venv at `path` holding MLflow 3.17 and GTO 1.10; a no-op once done."""
    have = peer_versions(path)
    if have.get("mlflow", "").startswith("3.17.") and have.get("gto", "").startswith("1.10."):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", path])
    # Minutes on a cold cache: MLflow pulls pandas, numpy, SQLAlchemy, alembic, ...
    _run([_bin(path, "python"), "-m", "pip", "install", "--quiet", MLFLOW_SPEC, GTO_SPEC])
    return path


# -- MLflow ----------------------------------------------------------------------------

# Runs inside the peer venv. Versions are made round-robin over the models, as a team
# training several models would; each model's production version gets both the alias and
# the legacy stage so that either way of asking can be timed.
_MLFLOW_SETUP = """
import json, sys
import mlflow
cfg = json.loads(sys.argv[1])
client = mlflow.MlflowClient()
for v in range(1, cfg["versions"] + 1):
    for name in cfg["names"]:
        if v == 1:
            client.create_registered_model(name)
        client.create_model_version(name, source=f"{cfg['root']}/{name}/{v}")
for name in cfg["names"]:
    client.set_registered_model_alias(name, cfg["alias"], str(cfg["prod"]))
    client.transition_model_version_stage(name, str(cfg["prod"]), cfg["stage"])
"""

# What a serving process would run to learn which version is in production.
_MLFLOW_GET_BY_ALIAS = """
import json, sys
import mlflow
mv = mlflow.MlflowClient().get_model_version_by_alias(sys.argv[1], sys.argv[2])
print(json.dumps(dict(mv), default=str))
"""

_MLFLOW_GET_BY_STAGE = """
import json, sys
import mlflow
mv = mlflow.MlflowClient().get_latest_versions(sys.argv[1], stages=[sys.argv[2]])[0]
print(json.dumps(dict(mv), default=str))
"""

_MLFLOW_REGISTER = """
import sys
import mlflow
mlflow.MlflowClient().create_model_version(sys.argv[1], source=sys.argv[2])
"""


def _mlflow_env(db: Path) -> dict[str, str]:
    uri = f"sqlite:///{db}"
    return peer_env({"MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri})


def mlflow_setup(venv: Path, workdir: Path, models: int, versions: int) -> MlflowFixture:
    """A sqlite MLflow registry of `models` x `versions`, the latest in production."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "mlflow.db"
    if db.exists():
        db.unlink()
    names = model_names(models)
    cfg = {
        "names": names,
        "versions": versions,
        "prod": versions,
        "root": str(workdir / "artifacts"),
        "alias": PROD_ALIAS,
        "stage": PROD_STAGE,
    }
    start = time.perf_counter()
    _run([_bin(venv, "python"), "-c", _MLFLOW_SETUP, json.dumps(cfg)], env=_mlflow_env(db))
    return MlflowFixture(venv, db, names, versions, versions, time.perf_counter() - start)


def time_mlflow_get_production(fixture: MlflowFixture, name: str, how: str = "alias") -> float:
    """Wall seconds of one fresh process printing `name`'s production version as JSON.

    how="alias" asks get_model_version_by_alias("production") (the current API);
    how="stage" asks get_latest_versions(stages=["Production"]) (deprecated, works).
    """
    script, key = (_MLFLOW_GET_BY_ALIAS, PROD_ALIAS) if how == "alias" else (_MLFLOW_GET_BY_STAGE, PROD_STAGE)
    cmd = [_bin(fixture.venv, "python"), "-c", script, name, key]
    seconds, out = _timed(cmd, _mlflow_env(fixture.db))
    if int(json.loads(out)["version"]) != fixture.prod_version:
        raise PeerError(f"MLflow answered {out[:200]} for {name}")
    return seconds


def time_mlflow_register(fixture: MlflowFixture, name: str) -> float:
    """Wall seconds of one fresh process registering a version (adds one to the store)."""
    cmd = [_bin(fixture.venv, "python"), "-c", _MLFLOW_REGISTER, name, str(fixture.db.parent)]
    return _timed(cmd, _mlflow_env(fixture.db))[0]


# Runs inside the peer venv: n runs each log the same file and register it as a
# version, the way a training job logs and registers its model.
_MLFLOW_DISK = """
import json, sys
import mlflow
cfg = json.loads(sys.argv[1])
client = mlflow.MlflowClient()
exp = client.create_experiment("disk", artifact_location=cfg["store"])
client.create_registered_model("disk-model")
for _ in range(cfg["n"]):
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_artifact(cfg["file"], artifact_path="model")
    client.create_model_version(
        "disk-model", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
"""


def tree_bytes(root: Path) -> int:
    """Sum of the sizes of the regular files under `root` (symlinks not followed)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def mlflow_disk_for_identical(venv: Path, workdir: Path, n: int = 10, size: int = 1 << 20) -> int:
    """Bytes in MLflow's artifact store after `n` registrations of one identical file.

    Counts the artifact store only; the sqlite metadata (about 1 MB here) is left out.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    payload = workdir / "model.bin"
    # Random bytes: incompressible; seeded: the same file on every run.
    payload.write_bytes(random.Random(0).randbytes(size))
    store = workdir / "mlflow-artifacts"
    shutil.rmtree(store, ignore_errors=True)
    db = workdir / "mlflow-disk.db"
    if db.exists():
        db.unlink()
    cfg = {"n": n, "file": str(payload), "store": store.as_uri()}
    _run([_bin(venv, "python"), "-c", _MLFLOW_DISK, json.dumps(cfg)], env=_mlflow_env(db))
    return tree_bytes(store)


# -- GTO -------------------------------------------------------------------------------


def _fast_import_stream(names: Sequence[str], versions: int, prod: int) -> bytes:
    """A `git fast-import` stream with the commits and annotated tags GTO itself writes.

    GTO registers with tag `NAME@vX.Y.Z` (message "Registering artifact NAME version
    vX.Y.Z") and assigns with `NAME#STAGE#N` ("Assigning stage STAGE to artifact NAME
    version vX.Y.Z"), both annotated: GTO ignores lightweight tags. It maps an
    assignment to a version by commit, so each version gets its own commit. Each event
    is one second after the last, since GTO orders events by tag time.
    """
    who = f"{IDENTITY[0]} <{IDENTITY[1]}>"
    clock = int(time.time()) - (len(names) * (versions + 1) + 10)
    out: list[bytes] = []
    mark = 0
    marks: dict[tuple[str, int], int] = {}

    def data(text: str) -> None:
        raw = text.encode()
        out.append(b"data %d\n" % len(raw) + raw + b"\n")

    def tag(name: str, target: int, message: str) -> None:
        nonlocal clock
        clock += 1
        out.append(f"tag {name}\nfrom :{target}\ntagger {who} {clock} +0000\n".encode())
        data(message)

    for v in range(1, versions + 1):
        for name in names:
            mark += 1
            clock += 1
            marks[name, v] = mark
            out.append(f"commit refs/heads/main\nmark :{mark}\n".encode())
            out.append(f"committer {who} {clock} +0000\n".encode())
            data(f"Train {name} {v}")
            out.append(f"M 100644 inline models/{name}.txt\n".encode())
            data(f"{name} {v}\n")
            tag(f"{name}@{gto_version(v)}", mark, f"Registering artifact {name} version {gto_version(v)}")
    for name in names:
        version = gto_version(prod)
        message = f"Assigning stage {GTO_STAGE} to artifact {name} version {version}"
        tag(f"{name}#{GTO_STAGE}#1", marks[name, prod], message)
    return b"".join(out)


def gto_setup(venv: Path, workdir: Path, models: int, versions: int) -> GtoFixture:
    """A git repo holding the GTO tags of `models` x `versions`, the latest in prod.

    Written with one `git fast-import` instead of thousands of `gto` calls (half a
    second or more each); verified by asking GTO itself what it reads back.
    """
    repo = workdir / "gto-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    names = model_names(models)
    env = peer_env()
    start = time.perf_counter()
    _run(["git", "init", "--quiet", "--initial-branch=main", repo], env=env)
    stream = _fast_import_stream(names, versions, versions)
    _run(["git", "fast-import", "--quiet"], env=env, cwd=repo, stdin=stream)
    _run(["git", "reset", "--quiet", "--hard"], env=env, cwd=repo)  # check out the tip
    fixture = GtoFixture(venv, repo, names, versions, versions, time.perf_counter() - start)
    _verify_gto(fixture)
    return fixture


def _verify_gto(fixture: GtoFixture) -> None:
    out = _run([_bin(fixture.venv, "gto"), "show", "--json"], env=peer_env(), cwd=fixture.repo)
    state = json.loads(out.stdout)
    want = {"version": gto_version(fixture.versions), "stage": {GTO_STAGE: gto_version(fixture.prod_version)}}
    for name in fixture.names:
        got = state.get(name, {})
        if {k: got.get(k) for k in want} != want:
            raise PeerError(f"GTO reads {name} as {got}, expected {want}")
    if len(state) != len(fixture.names):
        raise PeerError(f"GTO sees {len(state)} artifacts, expected {len(fixture.names)}")


def time_gto_show_prod(fixture: GtoFixture, name: str) -> float:
    """Wall seconds of one fresh `gto show NAME#prod --json`: the prod version as JSON."""
    cmd = [_bin(fixture.venv, "gto"), "show", f"{name}#{GTO_STAGE}", "--json"]
    seconds, out = _timed(cmd, peer_env(), cwd=fixture.repo)
    answer = json.loads(out)
    if [v.get("version") for v in answer] != [gto_version(fixture.prod_version)]:
        raise PeerError(f"GTO answered {out[:200]} for {name}#{GTO_STAGE}")
    return seconds


def time_gto_register(fixture: GtoFixture, name: str) -> float:
    """Wall seconds of one fresh `gto register NAME` on a new commit (adds one tag).

    The commit is made first and not timed: GTO registers a commit, not files.
    """
    env = peer_env()
    model_file = fixture.repo / "models" / f"{name}.txt"
    with model_file.open("a") as fh:
        fh.write(f"retrained {time.time_ns()}\n")
    _run(["git", "commit", "--quiet", "-am", f"Retrain {name}"], env=env, cwd=fixture.repo)
    return _timed([_bin(fixture.venv, "gto"), "register", name], env, cwd=fixture.repo)[0]


# -- standalone ------------------------------------------------------------------------


def sample(fn: Callable[[], float], runs: int) -> dict[str, object]:
    """`runs` measurements of `fn`, each a fresh process, with their median."""
    times = [fn() for _ in range(runs)]
    return {"median": statistics.median(times), "runs": [round(t, 4) for t in times]}


@dataclass(frozen=True)
class Sizes:
    wide: tuple[int, int]  # models x versions
    deep: int  # versions of one model
    runs: int  # fresh processes per measurement
    disk: tuple[int, int]  # registrations x bytes of one identical file
    register: tuple[int, ...]  # version numbers at which to time a registration


SELFTEST = Sizes(wide=(3, 4), deep=30, runs=3, disk=(3, 1 << 16), register=(2, 20))
FULL = Sizes(wide=(50, 20), deep=1000, runs=5, disk=(10, 1 << 20), register=(2, 200))


def measure(venv: Path, work: Path, sizes: Sizes) -> dict[str, object]:
    """Every peer figure of the issue, keyed by scenario."""
    results: dict[str, object] = {"versions": peer_versions(venv)}
    setup: dict[str, float] = {}
    for label, (models, versions) in (("wide", sizes.wide), ("deep", (1, sizes.deep))):
        mf = mlflow_setup(venv, work / f"mlflow-{label}", models, versions)
        gf = gto_setup(venv, work / f"gto-{label}", models, versions)
        setup[f"mlflow_{label}"] = round(mf.setup_seconds, 2)
        setup[f"gto_{label}"] = round(gf.setup_seconds, 2)
        name = mf.names[len(mf.names) // 2]
        # One untimed start each first: the first after install also fills the OS cache.
        time_mlflow_get_production(mf, name)
        time_gto_show_prod(gf, name)
        key = f"{label}_{models}x{versions}"
        alias = partial(time_mlflow_get_production, mf, name)
        stage = partial(time_mlflow_get_production, mf, name, how="stage")
        results[f"mlflow_alias_{key}"] = sample(alias, sizes.runs)
        results[f"mlflow_stage_{key}"] = sample(stage, sizes.runs)
        results[f"gto_show_prod_{key}"] = sample(partial(time_gto_show_prod, gf, name), sizes.runs)
    for at in sizes.register:
        # The fixture holds at-1 versions: the first timed register makes version `at`.
        mf = mlflow_setup(venv, work / f"mlflow-reg{at}", 1, at - 1)
        gf = gto_setup(venv, work / f"gto-reg{at}", 1, at - 1)
        mreg = partial(time_mlflow_register, mf, mf.names[0])
        results[f"mlflow_register_v{at}"] = sample(mreg, sizes.runs)
        greg = partial(time_gto_register, gf, gf.names[0])
        results[f"gto_register_v{at}"] = sample(greg, sizes.runs)
    n, size = sizes.disk
    disk = mlflow_disk_for_identical(venv, work / "disk", n, size)
    results[f"mlflow_disk_bytes_{n}x{size}"] = disk
    results["setup_seconds"] = setup
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--selftest", action="store_true", help="small histories, 3 runs")
    mode.add_argument("--full", action="store_true", help="the issue's sizes, 5 runs")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    venv = ensure_peer_venv(args.venv)
    print(f"peer venv {venv} ready in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="modelreg-peers-") as tmp:
        work = args.workdir or Path(tmp)
        results = measure(venv, work.resolve(), FULL if args.full else SELFTEST)
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
