"""modelreg benchmarks: fresh-process timings, side by side with MLflow and GTO (``--peers``).

Standard library only. modelreg runs as the console script found on PATH (or ``--modelreg``),
every timed command a fresh process; the registries are built beforehand and are not timed.
Figures are medians of ``--runs`` runs; when several commands are compared they are run
interleaved (run 1 of each, then run 2 of each, ...), with the order rotated between runs.

    python benchmarks/bench.py                     # everything but the peers (< 10 min, 2 cores)
    python benchmarks/bench.py --quick             # skip the 100,000-version history
    python benchmarks/bench.py --peers --json out.json

See benchmarks/README.md for what each figure means and the figures measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # the sibling module, standard library only as well

GIB = 1 << 30
MIB = 1 << 20
FLAT_SIZES = (10, 1_000, 10_000, 100_000)
BENCHMARKS = ("floor", "get", "flat", "list", "register", "big", "disk")
ACTOR = "bench"

# Targets of issue 5 on this kind of machine (2 cores).
TARGET_GET_S = 0.100
TARGET_LIST_S = 0.300
TARGET_FLAT_RATIO = 1.10  # "flat": the largest history within 10% of the smallest (our reading)
TARGET_REGISTER_RATIO = 1.10
TARGET_BIG_RATIO = 1.15


# -- running things ----------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


class Runner:
    """Runs the modelreg console script (and its interpreter) as fresh processes."""

    def __init__(self, exe: Path, cwd: Path) -> None:
        self.exe = exe
        self.cwd = cwd  # not inside a git repository: lineage finds no git state there
        self.python = interpreter_of(exe)
        self.env = dict(os.environ)
        self.env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
        for key in ("MODELREG_REGISTRY", "MODELREG_REMOTE", "MODELREG_AUTHOR", "PYTHONPATH"):
            self.env.pop(key, None)

    def run(self, *args: str | Path, check: bool = True) -> tuple[float, subprocess.CompletedProcess[bytes]]:
        cmd = [str(self.exe), *map(str, args)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=self.env, cwd=self.cwd, check=False)
        seconds = time.perf_counter() - start
        if check and proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip()[-400:]
            raise BenchError(f"modelreg {' '.join(map(str, args))[:200]} exited {proc.returncode}: {tail}")
        return seconds, proc

    def json(self, *args: str | Path) -> tuple[float, Any]:
        seconds, proc = self.run(*args, "--json")
        return seconds, json.loads(proc.stdout)

    def py(self, code: str, *args: str) -> tuple[float, bytes]:
        """The interpreter of the console script: the library, or the Python start-up floor."""
        start = time.perf_counter()
        proc = subprocess.run([str(self.python), "-c", code, *args], capture_output=True, env=self.env, cwd=self.cwd)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise BenchError(f"{self.python} -c ... exited {proc.returncode}: {proc.stderr.decode()[-600:]}")
        return seconds, proc.stdout


def interpreter_of(exe: Path) -> Path:
    """The Python a console script runs with (its shebang), else this one."""
    try:
        first = exe.read_bytes()[:512].split(b"\n", 1)[0]
    except OSError:
        return Path(sys.executable)
    if first.startswith(b"#!"):
        parts = first[2:].decode().split()
        if parts and Path(parts[0]).name.startswith("python") and Path(parts[0]).exists():
            return Path(parts[0])
    return Path(sys.executable)


def interleaved(fns: dict[str, Callable[[], float]], runs: int) -> dict[str, dict[str, Any]]:
    """`runs` timings of each function, taken round-robin with the order rotated each run."""
    labels = list(fns)
    times: dict[str, list[float]] = {k: [] for k in labels}
    for i in range(runs):
        shift = i % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(fns[label]())
    return {k: summary(v) for k, v in times.items()}


def summary(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "runs": [round(t, 4) for t in times]}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- building registries -----------------------------------------------------------------

# Runs inside modelreg's interpreter: the public library, one register per version, the way
# many `modelreg register` calls would leave the registry (minus the process start-ups).
_BUILD_WITH_LIBRARY = """
import json, sys, time
from pathlib import Path
from modelreg import Registry
cfg = json.loads(sys.argv[1])
reg = Registry.open(Path(cfg["root"]))
payload = Path(cfg["payload"]) / "model.bin"
start = time.perf_counter()
count = 0
for v in range(1, cfg["versions"] + 1):
    for name in cfg["names"]:
        payload.write_bytes(f"weights of {name} version {v}\\n".encode() * 16)
        reg.register(
            name, [payload], metrics={"accuracy": 0.5 + v / 1e6}, author=cfg["actor"], cwd=Path(cfg["payload"])
        )
        count += 1
elapsed = time.perf_counter() - start
for name in cfg["names"]:
    if cfg["promote"]:
        reg.promote(f"{name}@{cfg['promote']}", "production", actor=cfg["actor"])
print(json.dumps({"registers": count, "seconds": elapsed}))
"""


def build_with_library(runner: Runner, root: Path, names: Sequence[str], versions: int, promote: int | None) -> float:
    """A registry of names x versions (round-robin), `promote` of each in production; s/register."""
    runner.run("init", root, "--quiet")
    payload = root.parent / f"{root.name}-payload"
    payload.mkdir(parents=True, exist_ok=True)
    cfg = {
        "root": str(root),
        "payload": str(payload),
        "names": list(names),
        "versions": versions,
        "promote": promote,
        "actor": ACTOR,
    }
    _, out = runner.py(_BUILD_WITH_LIBRARY, json.dumps(cfg))
    shutil.rmtree(payload)
    done = json.loads(out)
    return done["seconds"] / done["registers"]


def _entry_id(body: dict[str, Any]) -> str:
    # As modelreg.audit.entry_id: SHA-256 of the canonical JSON of the entry without its id.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _last_audit_id(log_path: Path) -> str:
    with open(log_path, "rb") as fh:
        lines = fh.read().splitlines()
    return json.loads(lines[-1])["id"]


def write_history(root: Path, name: str, versions: int) -> float:
    """Append `versions` versions of a new model `name` in modelreg's on-disk format.

    Writes what `register` would (manifest, model file, blob, hash-linked audit entry) without
    the fsyncs, locks and journal: format version 1 as modelreg/manifest.py, state.py,
    audit.py and blobs.py define it. `modelreg verify --quick` checks the result. Returns the
    seconds taken.
    """
    start = time.perf_counter()
    mdir = root / "models" / name
    vdir = mdir / "versions"
    vdir.mkdir(parents=True)
    blobs = root / "blobs" / "sha256"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pyver = platform.python_version()
    plat = f"{platform.system().lower()}-{platform.machine()}"
    head = _last_audit_id(root / "audit.jsonl")
    lines: list[bytes] = []
    for n in range(1, versions + 1):
        data = f"weights of {name} version {n}\n".encode() * 16
        fhex = hashlib.sha256(data).hexdigest()
        blob = blobs / fhex[:2] / fhex
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        os.chmod(blob, 0o444)
        fdigest = f"sha256:{fhex}"
        vdigest = "sha256:" + hashlib.sha256(f"model.bin\0{len(data)}\0{fdigest}\n".encode()).hexdigest()
        (vdir / f"{n}.yaml").write_text(
            "format_version: 1\n"
            f"name: {name}\n"
            f"version: {n}\n"
            f"digest: {vdigest}\n"
            "initial_stage: development\n"
            f"created_at: '{now}'\n"
            f"created_by: {ACTOR}\n"
            "description: ''\n"
            "tags: {}\n"
            "metrics:\n"
            f"  accuracy: {0.5 + n / 1e6!r}\n"
            "params: {}\n"
            "lineage:\n"
            f"  author: {ACTOR}\n"
            f"  created_at: '{now}'\n"
            "  datasets: []\n"
            f"  python: '{pyver}'\n"
            f"  platform: {plat}\n"
            "files:\n"
            "- path: model.bin\n"
            f"  size: {len(data)}\n"
            f"  digest: {fdigest}\n"
        )
        body = {
            "time": now,
            "actor": ACTOR,
            "action": "register",
            "model": name,
            "version": n,
            "from_stage": None,
            "to_stage": "development",
            "reason": None,
            "digest": vdigest,
            "txn": os.urandom(12).hex(),
            "prev": [head],
        }
        head = _entry_id(body)
        lines.append((json.dumps({"id": head, **body}, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
    # The model file last: as in modelreg, a version exists once model.yaml counts it.
    (mdir / "model.yaml").write_text(
        "format_version: 1\n"
        f"name: {name}\n"
        f"created_at: '{now}'\n"
        f"created_by: {ACTOR}\n"
        "description: ''\n"
        "tags: {}\n"
        "default_stage: development\n"
        f"latest_version: {versions}\n"
        "initial_stages: {}\n"
    )
    with open(root / "audit.jsonl", "ab") as fh:
        fh.write(b"".join(lines))
    return time.perf_counter() - start


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# -- the benchmarks ----------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, runner: Runner, work: Path) -> None:
        self.args = args
        self.runs = args.runs
        self.mr = runner
        self.work = work
        self.results: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.peer_venv: Path | None = None

    def peers_on(self) -> bool:
        return self.peer_venv is not None

    # 0. floor -----------------------------------------------------------------------------
    def floor(self) -> None:
        log("floor: python -c pass, modelreg --help")
        self.mr.py("pass")
        self.mr.run("--help")
        res = interleaved(
            {
                "python_pass": lambda: self.mr.py("pass")[0],
                "modelreg_help": lambda: self.mr.run("--help")[0],
            },
            self.runs,
        )
        self.results.update(res)

    # 1. get-production on the two histories -----------------------------------------
    def _get_production(self, root: Path, name: str, expect: int) -> Callable[[], float]:
        def once() -> float:
            seconds, proc = self.mr.run("get-production", name, "--json", "-R", root)
            answer = json.loads(proc.stdout)
            if answer["version"] != expect or answer["stage"] != "production":
                raise BenchError(f"get-production {name} answered {answer['version']}, expected {expect}")
            return seconds

        return once

    def get(self) -> None:
        for label, (models, versions) in (("wide", (50, 20)), ("deep", (1, 1000))):
            key = f"{label}_{models}x{versions}"
            names = peers.model_names(models)
            name = names[len(names) // 2]
            root = self.work / f"reg-{label}"
            log(f"get-production {key}: building with the library ({models * versions} registers)")
            per_register = build_with_library(self.mr, root, names, versions, promote=versions)
            self.info[f"build_{key}_ms_per_register"] = round(per_register * 1000, 2)
            fns = {"modelreg": self._get_production(root, name, versions)}
            if self.peers_on():
                assert self.peer_venv is not None
                log(f"get-production {key}: MLflow and GTO fixtures")
                mf = peers.mlflow_setup(self.peer_venv, self.work / f"mlflow-{label}", models, versions)
                gf = peers.gto_setup(self.peer_venv, self.work / f"gto-{label}", models, versions)
                self.info[f"setup_{key}_mlflow_s"] = round(mf.setup_seconds, 2)
                self.info[f"setup_{key}_gto_s"] = round(gf.setup_seconds, 2)
                fns["mlflow_alias"] = lambda mf=mf, name=name: peers.time_mlflow_get_production(mf, name, "alias")
                fns["mlflow_stage"] = lambda mf=mf, name=name: peers.time_mlflow_get_production(mf, name, "stage")
                fns["gto_show_prod"] = lambda gf=gf, name=name: peers.time_gto_show_prod(gf, name)
            for fn in fns.values():  # one untimed run each: fills the parse cache and the OS cache
                fn()
            log(f"get-production {key}: timing {len(fns)} x {self.runs}")
            for who, res in interleaved(fns, self.runs).items():
                self.results[f"get_production_{key}_{who}"] = res
            if label == "deep":
                self.deep_root, self.deep_name = root, name

    # 1b. flatness: one model with 10 ... 100,000 versions -------------------------------------
    def flat(self) -> None:
        sizes = [s for s in FLAT_SIZES if not (self.args.quick and s > 10_000)]
        root = self.work / "reg-flat"
        self.mr.run("init", root, "--quiet")
        fns = {}
        for size in sizes:
            name = f"flat-{size}"
            log(f"flatness: writing {size} versions of {name} in the on-disk format")
            self.info[f"write_flat_{size}_s"] = round(write_history(root, name, size), 2)
            seconds, _ = self.mr.run("promote", f"{name}@{size}", "production", "--quiet", "-R", root)
            self.info[f"promote_at_{size}_versions_s"] = round(seconds, 3)
            fns[str(size)] = self._get_production(root, name, size)
        log(f"flatness: modelreg verify --quick on {sum(sizes)} versions")
        seconds, report = self.mr.json("verify", "--quick", "-R", root)
        self.info["flat_verify_quick_s"] = round(seconds, 2)
        if not report["ok"] or report["versions"] != sum(sizes):
            raise BenchError(f"verify --quick rejects the written history: {json.dumps(report)[:800]}")
        for fn in fns.values():
            fn()
        log(f"flatness: timing {len(fns)} x {self.runs}")
        for size, res in interleaved(fns, self.runs).items():
            self.results[f"get_production_flat_{size}"] = res

    # 2. list with 1,000 models --------------------------------------------------------------
    def list(self) -> None:
        root = self.work / "reg-list"
        names = [f"model-{i:04d}" for i in range(1000)]
        log("list: building 1,000 models (1 version each, in production) with the library")
        per_register = build_with_library(self.mr, root, names, 1, promote=1)
        self.info["build_list_ms_per_register"] = round(per_register * 1000, 2)

        def once() -> float:
            seconds, proc = self.mr.run("list", "--json", "-R", root)
            if len(json.loads(proc.stdout)["models"]) != 1000:
                raise BenchError("list did not answer 1,000 models")
            return seconds

        once()
        log(f"list: timing {self.runs}")
        self.results["list_1000_models"] = summary([once() for _ in range(self.runs)])

    # 3. register at version ~1,000 vs at version 2 -------------------------------------------
    def register(self) -> None:
        root = self.work / "reg-register"
        log("register: building model 'deep' (999 versions) and 'fresh-k' (1 version each) with the library")
        build_with_library(self.mr, root, ["deep"], 999, promote=None)
        fresh = [f"fresh-{k}" for k in range(self.runs + 1)]
        build_with_library(self.mr, root, fresh, 1, promote=None)
        payload = self.work / "register-payload"
        payload.mkdir(exist_ok=True)
        counter = iter(range(10**9))

        def register(name: str, expect: int | None) -> float:
            src = payload / f"model-{next(counter)}.bin"
            src.write_bytes(random.randbytes(4096))  # new bytes every time: a real store, no dedup
            seconds, proc = self.mr.run("register", name, src, "--json", "-R", root)
            got = json.loads(proc.stdout)["version"]
            if expect is not None and got != expect:
                raise BenchError(f"register {name} made version {got}, expected {expect}")
            src.unlink()
            return seconds

        fresh_iter = iter(fresh)
        fns: dict[str, Callable[[], float]] = {
            "modelreg_v2": lambda: register(next(fresh_iter), 2),
            "modelreg_v1000": lambda: register("deep", None),
        }
        # Untimed: one register of deep (v1000 itself, fills caches) and of fresh-0.
        fns["modelreg_v1000"]()
        fns["modelreg_v2"]()
        if self.peers_on():
            assert self.peer_venv is not None
            log("register: MLflow and GTO fixtures at 1 and 999 versions")
            for at in (2, 1000):
                mf = peers.mlflow_setup(self.peer_venv, self.work / f"mlflow-reg{at}", 1, at - 1)
                gf = peers.gto_setup(self.peer_venv, self.work / f"gto-reg{at}", 1, at - 1)
                fns[f"mlflow_v{at}"] = lambda mf=mf: peers.time_mlflow_register(mf, mf.names[0])
                fns[f"gto_v{at}"] = lambda gf=gf: peers.time_gto_register(gf, gf.names[0])
        log(f"register: timing {len(fns)} x {self.runs}")
        for who, res in interleaved(fns, self.runs).items():
            self.results[f"register_{who}"] = res
        self.info["register_v1000_range"] = f"v1001..v{1000 + self.runs}"

    # 4. register of 1 GiB vs cp + fsync -------------------------------------------------------
    def big(self) -> None:
        free = shutil.disk_usage(self.work).free
        if free < 5 * GIB:
            self.skipped["big"] = f"only {free / GIB:.1f} GiB free under {self.work}; needs 5 GiB"
            log(f"1 GiB: skipped ({self.skipped['big']})")
            return
        src = self.work / "big-src.bin"
        log("1 GiB: writing the source file (random bytes)")
        rng = random.Random(1)
        with open(src, "wb") as fh:
            for _ in range(GIB // (64 * MIB)):
                fh.write(rng.randbytes(64 * MIB))
            fh.flush()
            os.fsync(fh.fileno())
        copy_dst = self.work / "big-copy.bin"
        regs = self.work / "big-regs"

        def cp_fsync() -> float:
            # `sync FILE` (coreutils) fsyncs that file: the same durability register gives.
            start = time.perf_counter()
            subprocess.run(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", src, copy_dst], check=True)
            seconds = time.perf_counter() - start
            copy_dst.unlink()
            subprocess.run(["sync", "-f", str(self.work)], check=True)  # settle before the next run
            return seconds

        def register(link: bool) -> float:
            root = regs / f"r-{time.time_ns()}"
            self.mr.run("init", root, "--quiet")
            args = ["register", "big", src, "--json", "-R", root] + (["--link"] if link else [])
            seconds, proc = self.mr.run(*args)
            if json.loads(proc.stdout)["size"] != GIB:
                raise BenchError("register of 1 GiB reported another size")
            shutil.rmtree(root)  # blob (or link) removed: the next run stores the bytes again
            subprocess.run(["sync", "-f", str(self.work)], check=True)
            return seconds

        hash_code = "import hashlib, sys\nwith open(sys.argv[1], 'rb') as fh: hashlib.file_digest(fh, 'sha256')"
        fns = {
            "cp_fsync": cp_fsync,
            "modelreg": lambda: register(False),
            "modelreg_link": lambda: register(True),
            "sha256_only": lambda: self.mr.py(hash_code, str(src))[0],  # the floor of any verified copy
        }
        cp_fsync()  # untimed: warms the page cache with the source
        log(f"1 GiB: timing {len(fns)} x {self.runs} (alternating order)")
        for who, res in interleaved(fns, self.runs).items():
            self.results[f"big_1gib_{who}"] = res

        # Informative: get-production --json of a version holding the 1 GiB file.
        root = regs / "served"
        self.mr.run("init", root, "--quiet")
        self.mr.run("register", "big", src, "--quiet", "-R", root)
        self.mr.run("promote", "big@1", "production", "--quiet", "-R", root)
        first = self._get_production(root, "big", 1)()
        self.info["get_production_1gib_first_s"] = round(first, 3)
        log("1 GiB: get-production --json of a 1 GiB version (3 runs)")
        self.results["get_production_1gib_model"] = summary([self._get_production(root, "big", 1)() for _ in range(3)])
        shutil.rmtree(regs)
        src.unlink()

    # 5. disk used by 10 registrations of one identical 1 MB file --------------------------------
    def disk(self, n: int = 10, size: int = MIB) -> None:
        root = self.work / "reg-disk"
        self.mr.run("init", root, "--quiet")
        payload = self.work / "disk-payload" / "model.bin"
        payload.parent.mkdir(exist_ok=True)
        payload.write_bytes(random.Random(0).randbytes(size))  # as peers.mlflow_disk_for_identical
        log(f"disk: {n} registrations of one {size}-byte file")
        for _ in range(n):
            self.mr.run("register", "disk-model", payload, "--quiet", "-R", root)
        self.results[f"disk_{n}x{size}_modelreg_blob_bytes"] = tree_bytes(root / "blobs")
        meta = tree_bytes(root / "models") + (root / "audit.jsonl").stat().st_size
        self.info[f"disk_{n}x{size}_modelreg_manifest_and_audit_bytes"] = meta
        if self.peers_on():
            assert self.peer_venv is not None
            log("disk: MLflow")
            got = peers.mlflow_disk_for_identical(self.peer_venv, self.work / "mlflow-disk", n, size)
            self.results[f"disk_{n}x{size}_mlflow_artifact_bytes"] = got


# -- report ------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 5: the figure, the limit, met or not."""
    out: list[dict[str, Any]] = []

    def add(what: str, value: float | None, limit: float, unit: str) -> None:
        if value is not None:
            out.append({"target": what, "value": value, "limit": limit, "unit": unit, "met": value <= limit})

    def med(key: str) -> float | None:
        return r[key]["median"] if key in r else None

    add("get-production --json, 50x20", med("get_production_wide_50x20_modelreg"), TARGET_GET_S, "s")
    add("get-production --json, 1x1000", med("get_production_deep_1x1000_modelreg"), TARGET_GET_S, "s")
    flat = {int(k.rsplit("_", 1)[1]): v["median"] for k, v in r.items() if k.startswith("get_production_flat_")}
    if flat:
        add(f"get-production --json, {max(flat):,} versions", flat[max(flat)], TARGET_GET_S, "s")
        add(f"flat: {max(flat):,} vs {min(flat)} versions", flat[max(flat)] / flat[min(flat)], TARGET_FLAT_RATIO, "x")
    add("list --json, 1,000 models", med("list_1000_models"), TARGET_LIST_S, "s")
    v2, v1000 = med("register_modelreg_v2"), med("register_modelreg_v1000")
    if v2 and v1000:
        add("register at v1000 vs v2", v1000 / v2, TARGET_REGISTER_RATIO, "x")
    cp, big = med("big_1gib_cp_fsync"), med("big_1gib_modelreg")
    if cp and big:
        add("register 1 GiB vs cp + fsync", big / cp, TARGET_BIG_RATIO, "x")
    disk = r.get(f"disk_10x{MIB}_modelreg_blob_bytes")
    if disk is not None:
        add("10 identical 1 MiB registrations: bytes stored / file size", disk / MIB, 1.0, "x")
    return out


def render(results: dict[str, Any], info: dict[str, Any], tg: list[dict[str, Any]], skipped: dict[str, str]) -> str:
    lines: list[str] = []

    def row(label: str, key: str, peer_keys: Sequence[tuple[str, str]] = ()) -> None:
        if key not in results:
            return
        base = results[key]["median"]
        text = f"  {label:<44} {ms(base):>10}"
        for peer_label, pk in peer_keys:
            if pk in results:
                p = results[pk]["median"]
                text += f"   {peer_label} {ms(p)} ({p / base:.1f}x)"
        lines.append(text)

    lines.append("medians of fresh processes; (Nx) = peer median / modelreg median, same run")
    lines.append("start-up")
    row("python -c pass (floor)", "python_pass")
    row("modelreg --help", "modelreg_help")
    lines.append("1. get-production NAME --json")
    for key in ("wide_50x20", "deep_1x1000"):
        row(
            key.replace("_", " "),
            f"get_production_{key}_modelreg",
            [
                ("MLflow alias", f"get_production_{key}_mlflow_alias"),
                ("MLflow stage", f"get_production_{key}_mlflow_stage"),
                ("GTO", f"get_production_{key}_gto_show_prod"),
            ],
        )
    for size in FLAT_SIZES:
        row(f"one model, {size:,} versions", f"get_production_flat_{size}")
    row("one version holding a 1 GiB file (informative)", "get_production_1gib_model")
    lines.append("2. list --json")
    row("1,000 models", "list_1000_models")
    lines.append("3. register (fresh process, 4 KiB file)")
    row("at version 2", "register_modelreg_v2", [("MLflow", "register_mlflow_v2"), ("GTO", "register_gto_v2")])
    row(
        f"at version ~1,000 ({info.get('register_v1000_range', '')})",
        "register_modelreg_v1000",
        [("MLflow", "register_mlflow_v1000"), ("GTO", "register_gto_v1000")],
    )
    lines.append("4. 1 GiB file")
    row("cp + fsync", "big_1gib_cp_fsync")
    row("modelreg register", "big_1gib_modelreg")
    row("modelreg register --link", "big_1gib_modelreg_link")
    row("python: hashlib SHA-256 of the file (floor)", "big_1gib_sha256_only")
    lines.append("5. disk: 10 registrations of one 1 MiB file")
    for key, label in (
        (f"disk_10x{MIB}_modelreg_blob_bytes", "modelreg, bytes under blobs/"),
        (f"disk_10x{MIB}_mlflow_artifact_bytes", "MLflow, bytes in artifact store"),
    ):
        if key in results:
            lines.append(f"  {label:<44} {results[key]:>14,}")
    if skipped:
        lines.append("skipped")
        lines.extend(f"  {k}: {v}" for k, v in skipped.items())
    if tg:
        lines.append("targets (issue 5)")
        for t in tg:
            val = ms(t["value"]) if t["unit"] == "s" else f"{t['value']:.2f}x"
            lim = ms(t["limit"]) if t["unit"] == "s" else f"{t['limit']:.2f}x"
            lines.append(f"  {'met   ' if t['met'] else 'MISSED'} {t['target']:<58} {val:>10}  (limit {lim})")
    return "\n".join(lines)


def machine(runner: Runner, peer_venv: Path | None) -> dict[str, Any]:
    _, out = runner.py(
        "import importlib.metadata as m, platform; print(m.version('modelreg'), platform.python_version())"
    )
    mr_version, py_version = out.decode().split()
    info = {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": py_version,
        "modelreg": mr_version,
        "modelreg_exe": str(runner.exe),
    }
    if peer_venv is not None:
        info.update(peers.peer_versions(peer_venv))
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per figure (default 7)")
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-version history")
    parser.add_argument("--peers", action="store_true", help="also time MLflow and GTO (installs them if needed)")
    parser.add_argument("--peer-venv", type=Path, default=peers.DEFAULT_VENV, help="venv for MLflow and GTO")
    parser.add_argument("--modelreg", type=Path, help="the modelreg console script (default: on PATH)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {','.join(BENCHMARKS)}"
    )
    parser.add_argument("--json", type=Path, dest="json_out", help="save the raw figures here")
    parser.add_argument("--workdir", type=Path, help="where to build registries (kept; default: a temp dir, removed)")
    args = parser.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(only) - set(BENCHMARKS)
    if unknown or args.runs < 1:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}" if unknown else "--runs must be at least 1")

    exe = args.modelreg or (Path(found) if (found := shutil.which("modelreg")) else None)
    if exe is None or not exe.exists():
        parser.error("no modelreg on PATH; pass --modelreg PATH")
    exe = exe.absolute()

    started = time.perf_counter()
    load_before = os.getloadavg()
    peer_venv = None
    if args.peers:
        log(f"peers: preparing {args.peer_venv} (pip install {peers.MLFLOW_SPEC} {peers.GTO_SPEC} if missing)")
        peer_venv = peers.ensure_peer_venv(args.peer_venv)

    tmp = None
    if args.workdir:
        work = args.workdir.absolute()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="modelreg-bench-")
        work = Path(tmp.name)
    try:
        runner = Runner(exe, work)
        bench = Bench(args, runner, work)
        bench.peer_venv = peer_venv
        for name in BENCHMARKS:
            if name in only:
                t0 = time.perf_counter()
                getattr(bench, name)()
                bench.info[f"wall_{name}_s"] = round(time.perf_counter() - t0, 1)
        about = machine(runner, peer_venv)
    finally:
        if tmp is not None:
            tmp.cleanup()
    bench.info["wall_total_s"] = round(time.perf_counter() - started, 1)
    about["loadavg_before"] = [round(x, 2) for x in load_before]
    about["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    tg = targets(bench.results)
    doc = {
        "machine": about,
        "args": {"runs": args.runs, "quick": args.quick, "peers": args.peers, "only": only},
        "results": bench.results,
        "targets": tg,
        "info": bench.info,
        "skipped": bench.skipped,
    }
    print(render(bench.results, bench.info, tg, bench.skipped))
    print(f"load average before {about['loadavg_before']}, after {about['loadavg_after']}")
    print("info: " + json.dumps(bench.info))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"raw figures in {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
