"""Storing one large file as chunks, this modelreg against another one, without start-up.

usage: python benchmarks/ingest_ab.py --baseline DIR [--size-mib 1024] [--runs 4] [--workdir DIR]

DIR holds another modelreg package (``git archive COMMIT modelreg | tar -x -C DIR``). Each run is
a fresh process that imports one of the two and times only ``LocalBlobStore.put_file`` of a random
file into an empty format-2 store (wall and CPU seconds of that call, the chunking threads
included), then checks that the file assembles to its digest. The two alternate, the first one
rotating; medians and bests are printed with the load average.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, os, sys, time
from pathlib import Path
from modelreg.stores.blobs import LocalBlobStore
src, root = Path(sys.argv[1]), Path(sys.argv[2])
store = LocalBlobStore(root / "blobs", chunk_min_size=8 << 20)
t, c = time.perf_counter(), time.process_time()
digest, size = store.put_file(src)
wall, cpu = time.perf_counter() - t, time.process_time() - c
fd = os.open(root / "out", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
store.copy_out(digest, size, fd)  # raises unless the stored file assembles to its digest
os.close(fd)
print(json.dumps({"wall": wall, "cpu": cpu}))
"""


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from chunks_bench import MiB, random_file, syncfs

    work = Path(tempfile.mkdtemp(prefix="ingest-ab-", dir=args.workdir))
    print(f"work directory {work}; {os.cpu_count()} CPUs; {load()}")
    try:
        src = random_file(work / "src.bin", args.size_mib * MiB, seed=3)
        current = str(HERE.parent)
        variants = {"this checkout": current, "baseline": str(args.baseline.resolve())}
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        keys = list(variants)
        for i in range(args.runs):
            for key in keys[i % 2 :] + keys[: i % 2]:
                root = work / "store"
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir()
                syncfs(work)
                env = {**os.environ, "PYTHONPATH": variants[key]}
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, str(src), str(root)], env=env, capture_output=True, text=True
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{key} failed: {proc.stderr[-2000:]}")
                row = json.loads(proc.stdout)
                times[key].append((row["wall"], row["cpu"]))
        print(f"put_file of {args.size_mib} MiB, {args.runs} runs each ({load()})")
        for key, rows in times.items():
            walls, cpus = [w for w, _ in rows], [c for _, c in rows]
            print(
                f"  {key:<14} wall median {statistics.median(walls):6.3f} s best {min(walls):6.3f} s"
                f"   CPU median {statistics.median(cpus):6.3f} s best {min(cpus):6.3f} s"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
