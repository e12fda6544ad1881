"""Start-up of the hot read commands: the Typer-free path against `python -c pass` and the full CLI.

usage: python benchmarks/hot_reads.py [--runs N] [--size-mib 1024] [--models 1000] [--workdir DIR [--reuse]]

Every timed command is a fresh process, runs interleaved (the starting command rotates), medians
and bests of --runs runs, the load average printed with each block. Measured twice:

- "bytecode cached": the modules' .pyc files exist and are used (`compileall` first, then
  PYTHONDONTWRITEBYTECODE unset), which is how an installed modelreg runs;
- "no bytecode": PYTHONDONTWRITEBYTECODE=1 and no __pycache__ for modelreg, so every start
  compiles modelreg's modules from source (how a checkout runs where that variable is set).

Commands: `get NAME --path` of a version holding one SIZE file, already served (cached);
`get-production NAME --json`; `list --json` of MODELS models. Each through `python -m modelreg`
(which answers these plain forms without Typer: modelreg/cli/fast_path.py) and through the Typer
application built and called directly (what every other command line runs), and
`get-production --json` through the `modelreg` console script too. The targets: `get --path`
≤ 120 ms, `get-production --json` ≤ 3× and `list --json` of 1,000 models ≤ 8× `python -c pass`.

--reuse keeps the registries of an earlier run in --workdir (built once: a 1 GiB file and 1,000
registers take minutes on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
# The full CLI as modelreg.cli.main runs it when the fast path declines a command line.
TYPER = (
    "import sys; from modelreg.cli.group import build_app, command_in; "
    "build_app(command_in(sys.argv[1:]))(prog_name='modelreg')"
)


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(work: Path, size: int, models: int, reuse: bool) -> tuple[Path, Path]:
    from modelreg import Registry

    ready = work / f"ready-{size}-{models}"
    if reuse and ready.exists():
        return work / "big", work / "many"
    for old in ("big", "many"):
        shutil.rmtree(work / old, ignore_errors=True)
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
    ready.touch()
    return work / "big", work / "many"


def timed(cmd: list[str], env: dict[str, str], expect: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench(
    name: str, commands: dict[str, tuple[list[str], str | None]], env: dict[str, str], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of wall and of CPU time per command, the runs interleaved (the first one rotates)."""
    print(f"{name} ({load()})")
    for cmd, expect in commands.values():
        timed(cmd, env, expect)  # untimed: fills the page cache and the parse cache
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    keys = list(commands)
    for i in range(runs):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            cmd, expect = commands[key]
            wall, cpu = timed(cmd, env, expect)
            walls[key].append(wall)
            cpus[key].append(cpu)
    wall_med = {key: statistics.median(values) for key, values in walls.items()}
    cpu_med = {key: statistics.median(values) for key, values in cpus.items()}
    floor, cpu_floor = wall_med["python -c pass"], cpu_med["python -c pass"]
    print(f"  {'':<52} {'wall: median':>13} {'best':>9} {'x pass':>7}   {'CPU: median':>12} {'x pass':>7}")
    for key in keys:
        print(
            f"  {key:<52} {wall_med[key] * 1000:10.1f} ms {min(walls[key]) * 1000:6.1f} ms"
            f" {wall_med[key] / floor:6.2f}x   {cpu_med[key] * 1000:9.1f} ms {cpu_med[key] / cpu_floor:6.2f}x"
        )
    print(f"  ({load()})")
    return wall_med, cpu_med


def verdict(medians: tuple[dict[str, float], dict[str, float]], models: int) -> None:
    print("  targets (python -m modelreg, medians of wall time; CPU time in brackets):")
    wall, cpu = medians
    path = "get --path (python -m modelreg)"
    print(
        f"    get --path {wall[path] * 1000:.1f} ms [{cpu[path] * 1000:.1f} ms] (target <= 120 ms): "
        + ("met" if wall[path] <= 0.120 else "not met")
    )
    for label, key, target in (
        ("get-production --json", "get-production --json (python -m modelreg)", 3),
        ("list --json", f"list --json, {models} models (python -m modelreg)", 8),
    ):
        ratio = wall[key] / wall["python -c pass"]
        ratio_cpu = cpu[key] / cpu["python -c pass"]
        print(
            f"    {label} {ratio:.2f}x pass [{ratio_cpu:.2f}x] (target <= {target}x): "
            + ("met" if ratio <= target else "not met")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reuse", action="store_true", help="keep the registries already built in --workdir")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hot-reads-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory {work}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; {load()}")
    try:
        big, many = build(work, args.size_mib * MiB, args.models, args.reuse)
        py = sys.executable
        commands: dict[str, tuple[list[str], str | None]] = {
            "python -c pass": ([py, "-c", "pass"], None),
            "get --path (python -m modelreg)": ([py, "-m", "modelreg", "get", "big", "--path", "-R", str(big)], "/"),
            "get --path (Typer)": ([py, "-c", TYPER, "get", "big", "--path", "-R", str(big)], "/"),
            "get-production --json (python -m modelreg)": (
                [py, "-m", "modelreg", "get-production", "big", "--json", "-R", str(big)],
                '"version": 1',
            ),
            "get-production --json (modelreg console script)": (
                [str(Path(py).parent / "modelreg"), "get-production", "big", "--json", "-R", str(big)],
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
        verdict(
            bench("bytecode cached (PYTHONDONTWRITEBYTECODE unset, .pyc present)", commands, base, args.runs),
            args.models,
        )
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache)
        medians = bench(
            "no bytecode (PYTHONDONTWRITEBYTECODE=1, no .pyc for modelreg)",
            commands,
            {**base, "PYTHONDONTWRITEBYTECODE": "1"},
            args.runs,
        )
        verdict(medians, args.models)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
