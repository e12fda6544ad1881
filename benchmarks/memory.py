"""Peak memory (RSS) of register, push, pull and `get --path` on one large file.

usage: python benchmarks/memory.py [--size-mib 4096] [--workdir DIR] [--sparse] [--s3]

Each command is a fresh `python -m modelreg` process under `/usr/bin/time -v`; the figure is its
"Maximum resident set size". The file is random bytes (or, with --sparse, a sparse file: all
zeros, which dedups to a single chunk and so measures the bookkeeping rather than the bytes).
The registry is format 2 with a directory remote beside it (with --s3, a bucket of SeaweedFS on
loopback, started as benchmarks/transfers.py does); pull runs in a clone that has the registry's
records but none of its bytes. Everything lives in a temporary directory, removed at
the end (about 5 × the file's size of free disk is needed). The target is 200 MB for a 4 GiB
file, so that a laptop can register a model larger than its free memory.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
from chunks_bench import MODELREG, MiB, clone, init, load, random_file, seaweed

LIMIT_MB = 200


def peak(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Peak RSS (MB, 10^6 bytes) and wall seconds of one modelreg process."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *MODELREG, *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"modelreg {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    assert rss and wall, proc.stderr
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return int(rss.group(1)) * 1024 / 1e6, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=4096)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--sparse", action="store_true")
    parser.add_argument("--s3", action="store_true", help="push to and pull from SeaweedFS instead of a directory")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time at /usr/bin/time (Debian: apt-get install time)")
    work = Path(tempfile.mkdtemp(prefix="memory-bench-", dir=args.workdir))
    size = args.size_mib * MiB
    print(f"work directory {work}; {os.cpu_count()} CPUs; file {args.size_mib} MiB; {load()}")
    server: Any = None
    env: dict[str, str] | None = None
    try:
        if args.s3:
            server = seaweed()
            server.start()
            bucket = server.create_bucket("memory")
            env = {**os.environ, **server.env(), "MODELREG_REMOTE": f"s3://{bucket}/m"}
        src = work / "model.bin"
        if args.sparse:
            with open(src, "wb") as fh:
                fh.truncate(size)
        else:
            random_file(src, size, seed=4)
        (work / "remote").mkdir()
        reg = init(work / "reg", "s3://x/y", server.endpoint_url) if server else init(work / "reg", "../remote")
        where = "S3" if server else "directory remote"
        rows: list[tuple[str, float, float]] = []

        def measure(name: str, cmd: list[str]) -> None:
            mb, seconds = peak(cmd, env)
            rows.append((name, mb, seconds))
            verdict = "ok" if mb <= LIMIT_MB else f"OVER {LIMIT_MB} MB"
            print(f"  {name:<36} peak RSS {mb:7.1f} MB  wall {seconds:6.2f} s  {verdict}  ({load()})", flush=True)

        measure("register", ["register", "m", str(src), "-R", str(reg)])
        src.unlink()  # the registry holds it now; frees the disk for the rest
        measure(f"push ({where})", ["push", "m@1", "-R", str(reg)])
        mate = clone(reg, work / "mate")
        measure(f"pull (into a clone, {where})", ["pull", "m@1", "-R", str(mate)])
        shutil.rmtree(reg)
        measure("get --path (first: assembles)", ["get", "m", "--path", "-R", str(mate)])
        measure("get --path (served copy cached)", ["get", "m", "--path", "-R", str(mate)])
        worst = max(mb for _, mb, _ in rows)
        print(f"  worst peak RSS {worst:.1f} MB against the {LIMIT_MB} MB target ({load()})")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
