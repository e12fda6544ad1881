"""How long a TAB takes: the median of fresh ``modelreg`` processes answering completion requests.

Each run starts the console script exactly as the scripts in completions/ do (bash protocol:
``_MODELREG_COMPLETE=complete_bash`` with ``COMP_WORDS``/``COMP_CWORD``), in a registry of
``--models`` models with ``--versions`` versions each, built once with the library. Before
timing, one TAB builds the completion spec in the user cache and one more fills the parse cache,
as on any machine after the first TAB. Standard library only.

    python benchmarks/complete_bench.py                    # 11 runs of each line
    python benchmarks/complete_bench.py --runs 21 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = [
    "modelreg get-pr",  # a command name
    "modelreg show model-025@",  # versions, latest, stages of one model
    "modelreg diff model-025@3 ",  # the second reference of diff
    "modelreg promote model-025@1 ",  # stages
    "modelreg get-production model-0",  # model names
    "modelreg list --",  # options
]

BUILD = """
import sys
from pathlib import Path
from modelreg import Registry
root, models, versions = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
reg, _ = Registry.init(root)
src = root.parent / "weights.bin"
for v in range(versions):
    for m in range(models):
        src.write_bytes(f"model {m} version {v}".encode())
        reg.register(f"model-{m:03d}", [src])
"""


# The way every TAB was answered before: build the whole Typer app and let it complete.
THROUGH_TYPER = """
from typer.completion import completion_init
from modelreg.cli.group import build_app
completion_init()
build_app()(prog_name="modelreg")
"""


def interpreter_of(script: str) -> str:
    first = Path(script).read_bytes().split(b"\n", 1)[0]
    return first[2:].decode().strip() if first.startswith(b"#!") else sys.executable


def tab(command: list[str], line: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    words = line.split(" ")
    call = {**env, "_MODELREG_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=call, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{line!r} failed: {done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modelreg", default=shutil.which("modelreg"), help="the console script to time")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--json", type=Path, help="save every run here")
    args = parser.parse_args()
    if not args.modelreg:
        raise SystemExit("no modelreg console script on PATH; pass --modelreg PATH")
    args.modelreg = os.path.abspath(args.modelreg)
    python = interpreter_of(args.modelreg)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "reg"
        env = {k: v for k, v in os.environ.items() if k != "MODELREG_REGISTRY"}
        env["XDG_CACHE_HOME"] = str(work / "cache")  # a cold cache of its own, then warmed below
        env["XDG_CONFIG_HOME"] = str(work / "config")
        subprocess.run([python, "-c", BUILD, root, str(args.models), str(args.versions)], env=env, check=True)
        floor = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([python, "-c", "pass"], check=True)
            floor.append(time.perf_counter() - start)
        script = [args.modelreg]
        first, _ = tab(script, LINES[1], root, env)  # builds the spec: the one slow TAB
        results: dict[str, list[float]] = {line: [] for line in LINES}
        typer_way: list[float] = []
        for line in LINES:
            tab(script, line, root, env)  # fills the parse cache
        for i in range(args.runs):
            order = LINES[i % len(LINES) :] + LINES[: i % len(LINES)]  # rotate: drift hits every line alike
            for line in order:
                results[line].append(tab(script, line, root, env)[0])
            typer_way.append(tab([python, "-c", THROUGH_TYPER], LINES[1], root, env)[0])
        load = os.getloadavg()
    ms = 1000.0
    print(f"{args.models} models x {args.versions} versions, {args.runs} fresh processes per line, load {load[0]:.2f}")
    print(f"{'python -c pass (floor)':40} {statistics.median(floor) * ms:7.1f} ms")
    print(f"{'first TAB after an install (builds spec)':40} {first * ms:7.1f} ms")
    for line, times in results.items():
        print(f"{line!r:40} {statistics.median(times) * ms:7.1f} ms   (max {max(times) * ms:.1f})")
    every = [t for times in results.values() for t in times]
    print(f"{'median of all TABs':40} {statistics.median(every) * ms:7.1f} ms")
    print(f"{'the same TAB through Typer (before)':40} {statistics.median(typer_way) * ms:7.1f} ms")
    if args.json:
        saved = {"floor": floor, "first": first, "runs": results, "through_typer": typer_way, "load": load}
        args.json.write_text(json.dumps(saved, indent=2) + "\n")


if __name__ == "__main__":
    main()
