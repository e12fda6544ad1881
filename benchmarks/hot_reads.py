"""Start-up of the hot read commands: the Typer-free path against `python -c pass` and the full CLI.

usage: python benchmarks/hot_reads.py [--runs N] [--size-mib 1024] [--models 1000] [--workdir DIR]

Every timed command is a fresh process, runs interleaved (the starting command rotates), medians
and bests of --runs runs, the load average printed with each block. Measured twice:

- "bytecode cached": the modules' .pyc files exist and are used (`compileall` first, then
  PYTHONDONTWRITEBYTECODE unset), which is how an installed modelreg runs;
- "no bytecode": PYTHONDONTWRITEBYTECODE=1 and no __pycache__ for modelreg, so every start
  compiles modelreg's modules from source (how a checkout runs where that variable is set).

Commands: `get NAME --path` of a version holding one SIZE file, already served (cached);
`get-production NAME --json`; `list --json` of MODELS models. Each through `python -m modelreg`
and through `modelreg.cli.main` (the Typer application called directly).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
TYPER = "import sys; sys.argv[0] = 'modelreg'; from modelreg.cli import main; main()"


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(work: Path, size: int, models: int) -> tuple[Path, Path]:
    from modelreg import Registry

    big, _ = Registry.init(work / "big")
    src = work / "model.bin"
    with open(src, "wb") as fh:
        for _ in range(size // (64 * MiB)):
            fh.write(os.urandom(64 * MiB))
        fh.write(os.urandom(size % (64 * MiB)))
    big.register("big", [src])
    big.promote("big@1", "production")
    big.materialize(big.resolve("big@1"))
    src.unlink()
    many, _ = Registry.init(work / "many")
    small = work / "small.bin"
    for i in range(models):
        small.write_bytes(f"weights {i}".encode())
        many.register(f"model-{i:04d}", [small])
    return work / "big", work / "many"


def timed(cmd: list[str], env: dict[str, str], expect: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return wall


def bench(name: str, commands: dict[str, tuple[list[str], str | None]], env: dict[str, str], runs: int) -> None:
    print(f"{name} ({load()})")
    for cmd, expect in commands.values():
        timed(cmd, env, expect)  # untimed: fills the page cache and the parse cache
    times: dict[str, list[float]] = {k: [] for k in commands}
    keys = list(commands)
    for i in range(runs):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            cmd, expect = commands[key]
            times[key].append(timed(cmd, env, expect))
    floor = statistics.median(times["python -c pass"])
    for key, values in times.items():
        median = statistics.median(values)
        print(
            f"  {key:<40} median {median * 1000:6.1f} ms best {min(values) * 1000:7.1f} ms  {median / floor:5.2f}x pass"
        )
    print(f"  ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hot-reads-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory {work}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; {load()}")
    try:
        big, many = build(work, args.size_mib * MiB, args.models)
        py = sys.executable
        commands: dict[str, tuple[list[str], str | None]] = {
            "python -c pass": ([py, "-c", "pass"], None),
            "get --path (python -m modelreg)": ([py, "-m", "modelreg", "get", "big", "--path", "-R", str(big)], "/"),
            "get --path (Typer)": ([py, "-c", TYPER, "get", "big", "--path", "-R", str(big)], "/"),
            "get-production --json (python -m modelreg)": (
                [py, "-m", "modelreg", "get-production", "big", "--json", "-R", str(big)],
                '"version": 1',
            ),
            "get-production --json (Typer)": (
                [py, "-c", TYPER, "get-production", "big", "--json", "-R", str(big)],
                '"version": 1',
            ),
            f"list --json, {args.models} models (python -m modelreg)": (
                [py, "-m", "modelreg", "list", "--json", "-R", str(many)],
                "model-0999" if args.models == 1000 else None,
            ),
            f"list --json, {args.models} models (Typer)": (
                [py, "-c", TYPER, "list", "--json", "-R", str(many)],
                "model-0999" if args.models == 1000 else None,
            ),
        }
        import modelreg

        package = Path(modelreg.__file__).parent  # the modelreg these processes import
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([py, "-m", "compileall", "-q", str(package)], check=False, env=base)
        bench("bytecode cached (PYTHONDONTWRITEBYTECODE unset, .pyc present)", commands, base, args.runs)
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache)
        bench(
            "no bytecode (PYTHONDONTWRITEBYTECODE=1, no .pyc for modelreg)",
            commands,
            {**base, "PYTHONDONTWRITEBYTECODE": "1"},
            args.runs,
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
