"""Storing one large file as chunks, this modelreg against another one, without start-up.

usage: python benchmarks/ingest_ab.py --baseline DIR [--size-mib 1024] [--runs 4] [--workdir DIR]

DIR holds another modelreg package (``git archive COMMIT modelreg | tar -x -C DIR``). Each run is
a fresh process that imports one of the two and times only ``LocalBlobStore.put_file`` of a random
file into an empty format-2 store (wall and CPU seconds of that call, the chunking threads
included), then checks that the file assembles to its digest. The two alternate, the first one
rotating; medians and bests are printed with the load average.

Per thread (the caller's and each thread the call starts), from ``/proc/self/task/*/schedstat``:
seconds on a CPU and seconds runnable but waiting for one (the run queue). What is left of the
wall time a thread was blocked (on a queue, a read, a write, an fsync). The longest thread's CPU
is the wall time with free cores; the run-queue wait is what a loaded machine adds.
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
import json, os, sys, threading, time
from pathlib import Path
from modelreg.stores.blobs import LocalBlobStore

def sched():
    fields = open(f"/proc/self/task/{threading.get_native_id()}/schedstat").read().split()
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9  # on a CPU, waiting for one

threads = {}
run = threading.Thread.run
def accounted(self):
    start, before = time.perf_counter(), sched()
    try:
        run(self)
    finally:
        after = sched()
        threads[self.name] = (after[0] - before[0], after[1] - before[1], time.perf_counter() - start)
threading.Thread.run = accounted

src, root = Path(sys.argv[1]), Path(sys.argv[2])
store = LocalBlobStore(root / "blobs", chunk_min_size=8 << 20)
t, c, s = time.perf_counter(), time.process_time(), sched()
digest, size = store.put_file(src)
wall, cpu, e = time.perf_counter() - t, time.process_time() - c, sched()
threads["caller"] = (e[0] - s[0], e[1] - s[1], wall)
threading.Thread.run = run  # the threads of the check below are not the call's
fd = os.open(root / "out", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
store.copy_out(digest, size, fd)  # raises unless the stored file assembles to its digest
os.close(fd)
import modelreg
print(json.dumps({"wall": wall, "cpu": cpu, "threads": threads, "package": modelreg.__file__}))
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
        per_thread: dict[str, dict[str, list[list[float]]]] = {k: {} for k in variants}
        keys = list(variants)
        for i in range(args.runs):
            for key in keys[i % 2 :] + keys[: i % 2]:
                root = work / "store"
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir()
                syncfs(work)
                env = {**os.environ, "PYTHONPATH": variants[key]}
                # -P: the working directory (maybe a checkout) must not shadow PYTHONPATH's package.
                proc = subprocess.run(
                    [sys.executable, "-P", "-c", CHILD, str(src), str(root)], env=env, capture_output=True, text=True
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{key} failed: {proc.stderr[-2000:]}")
                row = json.loads(proc.stdout)
                if i == 0:
                    print(f"  {key}: {row['package']}")
                times[key].append((row["wall"], row["cpu"]))
                for name, figures in row["threads"].items():
                    per_thread[key].setdefault(name, []).append(figures)
        print(f"put_file of {args.size_mib} MiB, {args.runs} runs each ({load()})")
        for key, rows in times.items():
            walls, cpus = [w for w, _ in rows], [c for _, c in rows]
            print(
                f"  {key:<14} wall median {statistics.median(walls):6.3f} s best {min(walls):6.3f} s"
                f"   CPU median {statistics.median(cpus):6.3f} s best {min(cpus):6.3f} s"
            )
            for name, rows3 in sorted(per_thread[key].items()):
                on_cpu, queued, alive = (statistics.median(r[i] for r in rows3) for i in range(3))
                print(
                    f"    {name:<16} CPU {on_cpu:6.3f} s   run queue {queued:6.3f} s"
                    f"   blocked {max(0.0, alive - on_cpu - queued):6.3f} s   (medians)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
