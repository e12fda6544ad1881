"""push and pull against boto3 on the same bytes, to and from SeaweedFS on loopback.

usage: python benchmarks/transfers.py [--size-mib 512] [--runs 3] [--jobs 8] [--baseline DIR] [--workdir DIR]

One version holding one random file of --size-mib MiB. Each round times, every command a fresh
process: boto3's ``upload_file`` of the file, ``modelreg push`` of the version, ``push`` of a
second version that rewrites 10 % of the file in 10 places (it shares about 90 % of its chunks),
boto3's ``download_file`` followed by an fsync of the file (the durability a pull gives its
packs), and ``modelreg pull`` of the first version into a fresh clone that has the records but
none of the bytes. boto3 runs with its default transfer settings. The order of boto3 and
modelreg alternates from round to round, ``sync -f`` (untimed) runs before each command, and
the first round is a warm-up. Medians of wall time and of CPU seconds (user + system), and the
ratios of the medians; every measurement is printed with the machine's load.

The modelreg timed is the one PYTHONPATH gives (``PYTHONPATH=$PWD`` for a checkout). --baseline DIR
times a second modelreg (DIR holds its ``modelreg`` package, e.g. from ``git
archive COMMIT modelreg | tar -x -C DIR``) in the same rounds, to its own prefix: before and after.
The S3 server is tests/support/s3server.py's ``weed mini`` with larger volumes (chunks_bench.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from chunks_bench import MODELREG, MiB, clone, init, load, mr, random_file, seaweed, syncfs, timed  # noqa: E402

BOTO = """
import os, sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                               response_checksum_validation="when_required"))
if sys.argv[2] == "up":
    c.upload_file(sys.argv[5], sys.argv[3], sys.argv[4])
else:
    c.download_file(sys.argv[3], sys.argv[4], sys.argv[5])
    fd = os.open(sys.argv[5], os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(os.path.dirname(sys.argv[5]), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
"""


def second_version(src: Path, dest: Path) -> Path:
    size = src.stat().st_size
    shutil.copyfile(src, dest)
    rng = random.Random(99)
    with open(dest, "r+b") as fh:  # 10 % of the bytes rewritten, in 10 places
        for k in range(10):
            fh.seek(k * (size // 10) + size // 40)
            fh.write(rng.randbytes(size // 100))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--baseline", type=Path, help="a directory holding another modelreg package to time too")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="transfers-bench-", dir=args.workdir))
    print(f"work directory {work}; {os.cpu_count()} CPUs; file {args.size_mib} MiB; {load()}", flush=True)
    trees = {"now": os.environ.get("PYTHONPATH", "")}
    if args.baseline is not None:
        trees["baseline"] = str(args.baseline.resolve())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped and the files go
    server = seaweed()
    server.start()
    try:
        src = random_file(work / "v1.bin", args.size_mib * MiB, seed=1)
        v2 = second_version(src, work / "v2.bin")
        bucket = server.create_bucket("bench-transfers")
        env = {**os.environ, **server.env()}
        reg = init(work / "reg", "s3://x/y", server.endpoint_url)
        mr("register", "m", src, "-R", reg)
        mr("register", "m", v2, "-R", reg)
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def run(name: str, cmd: list[str], tree: str | None, measured: bool, remote: str = "") -> None:
            syncfs(work)
            child = dict(env)
            if tree is not None:
                child["PYTHONPATH"] = trees[tree]
                child["MODELREG_REMOTE"] = remote
            seconds, used = timed(cmd, child, cwd=work)
            print(f"  {name:<34} {seconds:7.2f} s wall {used:6.2f} s CPU  ({load()})", flush=True)
            if measured:
                wall.setdefault(name, []).append(seconds)
                cpu.setdefault(name, []).append(used)

        def boto(direction: str, key: str, path: Path, measured: bool) -> None:
            name = "upload_file" if direction == "up" else "download_file + fsync"
            run(
                name,
                [sys.executable, "-c", BOTO, server.endpoint_url, direction, bucket, key, str(path)],
                None,
                measured,
            )
            if direction == "down":
                path.unlink()

        def modelreg(name: str, tree: str, measured: bool, remote: str, *args: str) -> None:
            run(f"{name} ({tree})", [*MODELREG, *args, "--jobs", str(jobs)], tree, measured, remote)

        jobs = args.jobs
        for i in range(args.runs + 1):
            measured = i > 0
            print(f"round {i}{'' if measured else ' (warm-up)'}", flush=True)
            order = list(trees) if i % 2 else list(reversed(trees))
            boto_first = i % 2 == 0
            whole, out = f"r{i}/whole", work / "downloaded"
            if boto_first:
                boto("up", whole, src, measured)
            for tree in order:
                remote = f"s3://{bucket}/r{i}-{tree}"
                modelreg("push", tree, measured, remote, "push", "m@1", "-R", str(reg))
                modelreg("push 90% shared", tree, measured, remote, "push", "m@2", "-R", str(reg))
            if not boto_first:
                boto("up", whole, src, measured)
                boto("down", whole, out, measured)
            for tree in order:
                mate = clone(reg, work / f"mate-{tree}")
                modelreg("pull", tree, measured, f"s3://{bucket}/r{i}-{tree}", "pull", "m@1", "-R", str(mate))
                shutil.rmtree(mate)
            if boto_first:
                boto("down", whole, out, measured)

        print(f"medians of {args.runs} rounds ({load()}):")
        for name in wall:
            print(
                f"  {name:<34} wall {statistics.median(wall[name]):7.2f} s (best {min(wall[name]):.2f})"
                f"  CPU {statistics.median(cpu[name]):6.2f} s"
            )

        def ratio(a: str, b: str) -> str:
            wa, wb = statistics.median(wall[a]), statistics.median(wall[b])
            ca, cb = statistics.median(cpu[a]), statistics.median(cpu[b])
            return f"{wa / wb:.2f}x wall, {ca / cb:.2f}x CPU"

        for tree in trees:
            for a, b in (
                (f"push ({tree})", "upload_file"),
                (f"pull ({tree})", "download_file + fsync"),
                (f"push 90% shared ({tree})", f"push ({tree})"),
            ):
                print(f"  {a} / {b}: {ratio(a, b)}")
        print(f"  ({load()})")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
