"""A register of a small file, start to end, against `python -c pass` (and another modelreg).

usage: python benchmarks/register_startup.py [--runs 21] [--baseline DIR]

What a training script or a CI job pays after every run when the model is small: a fresh
`python -P -m modelreg register m FILE -R REG` of a 4 KiB file, each run registering the next
version into its own registry (one per variant, made first), against `python -c pass`. With
`--baseline DIR` (another modelreg package: `git archive COMMIT modelreg | tar -x -C DIR`), that
package is timed in the same rounds. Both packages are byte-compiled first, as an installed
modelreg is. Runs are interleaved, the first variant rotating; medians and bests are printed
with the load average. Everything lives in a temporary directory, removed at the end.
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

HERE = Path(__file__).resolve().parent


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--baseline", type=Path, help="another modelreg package, timed in the same rounds")
    args = parser.parse_args()
    packages = {"register": HERE.parent}
    if args.baseline:
        packages["register (baseline)"] = args.baseline.resolve()
    work = Path(tempfile.mkdtemp(prefix="register-startup-"))
    try:
        model = work / "model.bin"
        model.write_bytes(os.urandom(4096))
        commands: dict[str, tuple[list[str], dict[str, str]]] = {"python -c pass": ([sys.executable, "-c", "pass"], {})}
        for i, (label, package) in enumerate(packages.items()):
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(package / "modelreg")], check=True)
            env = {**os.environ, "PYTHONPATH": str(package)}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            reg = work / f"reg{i}"
            subprocess.run([sys.executable, "-P", "-m", "modelreg", "init", str(reg)], env=env, check=True,
                           capture_output=True)  # fmt: skip
            commands[label] = (
                [sys.executable, "-P", "-m", "modelreg", "register", "m", str(model), "-R", str(reg)],
                env,
            )
        times: dict[str, list[float]] = {label: [] for label in commands}
        labels = list(commands)
        print(f"register of a 4 KiB file, fresh processes, {args.runs} rounds ({load()})")
        for label, package in packages.items():
            print(f"  {label}: {package}")
        for i in range(args.runs + 1):
            for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                cmd, env = commands[label]
                start = time.perf_counter()
                subprocess.run(cmd, env=env or None, stdout=subprocess.DEVNULL, check=True)
                if i:  # the first round only warms the caches
                    times[label].append(time.perf_counter() - start)
        floor = statistics.median(times["python -c pass"])
        for label, values in times.items():
            median = statistics.median(values)
            best = min(values) * 1000
            print(f"  {label:22s} median {median * 1000:6.1f} ms  best {best:6.1f} ms  {median / floor:5.2f}x pass")
        if args.baseline:
            ratio = statistics.median(times["register"]) / statistics.median(times["register (baseline)"])
            print(f"  register / baseline: {ratio:.2f}x  ({load()})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
