"""Figures of chunked storage (format 2). Every timed command is a fresh process.

usage: python benchmarks/chunks_bench.py [--runs N] [--only dedup,register,get,s3] [--json FILE]
                                          [--size-mib 1024] [--workdir DIR] [--jobs 8] [--baseline DIR]
                                          [--compile]

1. dedup: a ~640 MB safetensors-like file (40 tensors); version 2 changes 3 of them and grows the
   header by a few bytes. Bytes that register adds to the local store, and that push adds to a
   directory remote and to an S3 remote (SeaweedFS on loopback).
2. register of a 1 GiB random file into a fresh registry against `cp SRC DST && sync DST` (sync
   FILE is an fsync), interleaved, `sync -f` (untimed) between runs. Wall time and CPU seconds.
3. `get-production --path` of a cached 1 GiB version, fresh process; the first (assembling) call too.
4. push and pull of 1 GiB to and from SeaweedFS against boto3's upload_file and download_file of the
   same bytes (fresh `python -c` processes, boto3's default transfer settings), interleaved; then
   the push of a second version sharing 90 % of its chunks, against the first push.

--baseline DIR times a second modelreg (DIR holds its ``modelreg`` package, e.g. from
``git archive COMMIT modelreg | tar -x -C DIR``) in the same rounds of figure 2: before and after.
Every modelreg process runs with ``python -P`` (the working directory is not on its path, so a
checkout there cannot shadow the package chosen by PYTHONPATH), and figure 2 prints the package
each variant imports before it times anything.

--compile byte-compiles the timed packages first (``compileall``, as ``pip install`` does). Without
it, where PYTHONDONTWRITEBYTECODE is set and a checkout has no ``.pyc`` files, every timed process
also compiles modelreg's modules from source: about 0.08 CPU-seconds and 0.2-0.4 s of wall time
at load 10 in each register, which an installed modelreg does not pay. The ``.pyc`` files stay
(``__pycache__/``, ignored by git), so later runs use them too.

The S3 server is tests/support/s3server.py's `weed mini` with larger volumes (the tests' 2 GiB ceiling is
too small for several GiB). Medians and bests of --runs runs; the load average is printed with each
figure, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MiB = 1 << 20
HERE = Path(__file__).resolve().parent
# -P: the working directory is not put first on sys.path, so PYTHONPATH decides which modelreg runs:
# this checkout's, for every command that names no other (here and in the scripts importing this one).
MODELREG = [sys.executable, "-P", "-m", "modelreg"]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
RESULTS: dict[str, Any] = {}


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the child and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def mr(*args: Any, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([*MODELREG, *map(str, args)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"modelreg {' '.join(map(str, args))} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def summary(name: str, values: list[float], unit: str = "s") -> dict[str, float]:
    stats = {"best": min(values), "median": statistics.median(values), "worst": max(values)}
    best, median, worst = stats["best"], stats["median"], stats["worst"]
    print(f"  {name:<44} best {best:.3f}{unit}  median {median:.3f}{unit}  worst {worst:.3f}{unit}")
    return stats


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def random_file(path: Path, size: int, seed: int) -> Path:
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 64 * MiB)
            fh.write(rng.randbytes(n))
            left -= n
    return path


def safetensors(path: Path, named: list[tuple[str, int, int]], note: str) -> Path:
    """(name, size, seed) tensors: u64 header length, JSON header, tensor bytes."""
    header: dict[str, Any] = {"__metadata__": {"note": note}}
    offset = 0
    for name, size, _ in named:
        header[name] = {"dtype": "F16", "shape": [size // 2], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for _, size, seed in named:
            fh.write(random.Random(seed).randbytes(size))
    return path


def init(path: Path, remote: str | None = None, endpoint: str | None = None) -> Path:
    mr("init", path)
    if remote:
        toml = path / "modelreg.toml"
        extra = f'url = "{remote}"\n' + (f'endpoint_url = "{endpoint}"\nregion = "us-east-1"\n' if endpoint else "")
        toml.write_text(toml.read_text().replace("[remote]\n", "[remote]\n" + extra))
    return path


def clone(src: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models"):
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def syncfs(path: Path) -> None:
    subprocess.run(["sync", "-f", str(path)], check=False)


# -- the S3 server ----------------------------------------------------------------------------------


def seaweed() -> Any:
    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    import s3server

    real = s3server.subprocess.Popen
    bigger = {"-master.volumeSizeLimitMB=64": "-master.volumeSizeLimitMB=1024", "-volume.max=32": "-volume.max=64"}

    class Popen(real):  # type: ignore[misc, valid-type]
        def __init__(self, args: list[str], **kw: Any) -> None:
            super().__init__([bigger.get(a, a) for a in args], **kw)

    s3server.subprocess = type(sys)("subprocess_with_bigger_volumes")
    s3server.subprocess.__dict__.update(subprocess.__dict__)
    s3server.subprocess.Popen = Popen
    return s3server.SeaweedS3()


def s3_listing_bytes(server: Any, bucket: str, prefix: str) -> int:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(int(item["Size"]) for page in pages for item in page.get("Contents", []) or [])


BOTO = """
import sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                               response_checksum_validation="when_required"))
if sys.argv[2] == "up":
    c.upload_file(sys.argv[5], sys.argv[3], sys.argv[4])
else:
    c.download_file(sys.argv[3], sys.argv[4], sys.argv[5])
"""


# -- the figures ------------------------------------------------------------------------------------


def fig_dedup(work: Path, server: Any) -> None:
    print(f"1. dedup, ~640 MB safetensors-like file ({load()})")
    named = [("embed", 64 * MiB, 1)]
    for layer in range(13):
        named += [(f"l{layer}.attn", 18 * MiB, 10 + layer), (f"l{layer}.mlp", 24 * MiB, 40 + layer)]
        named += [(f"l{layer}.norm", 8 << 10, 70 + layer)]
    named = named[:40]
    v2 = [(n, s, seed + 1000 if n in ("l6.attn", "l2.mlp", "l4.norm") else seed) for n, s, seed in named]
    a = safetensors(work / "v1.safetensors", named, "step=1000")
    b = safetensors(work / "v2.safetensors", v2, "step=1000000, re-saved")
    (work / "dedup-remote").mkdir()
    reg = init(work / "dedup", "../dedup-remote")
    mr("register", "m", a, "-R", reg)
    before = store_bytes(reg / "blobs")
    mr("push", "-R", reg)
    remote_before = store_bytes(work / "dedup-remote")
    mr("register", "m", b, "-R", reg)
    local_added = store_bytes(reg / "blobs") - before
    mr("push", "-R", reg)
    dir_added = store_bytes(work / "dedup-remote") - remote_before
    bucket = server.create_bucket("bench-dedup")
    env = {**os.environ, **server.env(), "MODELREG_REMOTE": f"s3://{bucket}/dedup"}
    s3reg = init(work / "dedup-s3", "s3://x/y", server.endpoint_url)
    mr("register", "m", a, "-R", s3reg)
    mr("push", "-R", s3reg, env=env)
    s3_before = s3_listing_bytes(server, bucket, "dedup/")
    mr("register", "m", b, "-R", s3reg)
    mr("push", "-R", s3reg, env=env)
    s3_added = s3_listing_bytes(server, bucket, "dedup/") - s3_before
    size = b.stat().st_size
    changed = 18 * MiB + 24 * MiB + (8 << 10)
    row = {
        "file_bytes": size,
        "changed_tensor_bytes": changed,
        "local_added": local_added,
        "dir_remote_added": dir_added,
        "s3_remote_added": s3_added,
    }
    for key in ("local_added", "dir_remote_added", "s3_remote_added"):
        share, floor = 100 * row[key] / size, 100 * changed / size
        print(f"  {key:<20} {row[key] / MiB:8.1f} MiB = {share:5.2f} % of the file (floor {floor:.2f} %)")
    RESULTS["dedup"] = row


def fig_register(work: Path, src: Path, runs: int, baseline: Path | None = None) -> None:
    """``baseline``: a directory holding another modelreg package, timed in the same rounds."""
    print(f"2. register of {src.stat().st_size / MiB:.0f} MiB against cp + fsync ({load()})")
    kinds = ["cp+sync", "register"] + (["register (baseline)"] if baseline else [])
    envs = {"register": {**os.environ, "PYTHONPATH": str(HERE.parent)}}
    if baseline:
        envs["register (baseline)"] = {**os.environ, "PYTHONPATH": str(baseline.resolve())}
    for what, env_of in envs.items():
        where = subprocess.run(
            [sys.executable, "-P", "-c", "import modelreg; print(modelreg.__file__)"],
            env=env_of,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"  {what}: {where}")
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    cpus: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(runs + 1):
        order = kinds[i % len(kinds) :] + kinds[: i % len(kinds)]
        for what in order:
            target = work / f"reg-{len(what)}"
            shutil.rmtree(target, ignore_errors=True)
            env = envs.get(what)
            if what.startswith("register"):
                init(target)
                cmd = [*MODELREG, "register", "m", str(src), "-R", str(target)]
            else:
                target.mkdir()
                cmd = ["sh", "-c", f"cp '{src}' '{target}/copy' && sync '{target}/copy'"]
            syncfs(work)
            wall, cpu = timed(cmd, env)
            if i:  # the first round only warms the page cache
                walls[what].append(wall)
                cpus[what].append(cpu)
            shutil.rmtree(target, ignore_errors=True)
            syncfs(work)
    row = {k: summary(f"{k} wall", v) for k, v in walls.items()}
    for k, v in cpus.items():
        row[f"{k} cpu"] = summary(f"{k} CPU (user+sys)", v)
    ratios: dict[str, float] = {}
    for k in kinds[1:]:
        ratio = row[k]["median"] / row["cp+sync"]["median"]
        best = row[k]["best"] / row["cp+sync"]["best"]
        cpu = row[f"{k} cpu"]["median"] / row["cp+sync cpu"]["median"]
        print(f"  {k} / cp+sync: wall median {ratio:.2f}x, best {best:.2f}x; CPU median {cpu:.2f}x  ({load()})")
        ratios[f"{k} median"], ratios[f"{k} best"], ratios[f"{k} cpu"] = ratio, best, cpu
    RESULTS["register"] = {**row, "ratios": ratios}


def fig_get(work: Path, src: Path, runs: int) -> None:
    print(f"3. get-production --path of a cached {src.stat().st_size / MiB:.0f} MiB version ({load()})")
    reg = init(work / "serve")
    mr("register", "m", src, "--stage", "production", "-R", reg)
    first, _ = timed([*MODELREG, "get-production", "m", "--path", "-R", str(reg)])
    print(f"  first call (assembles and verifies)          {first:.3f}s")
    cached = [timed([*MODELREG, "get-production", "m", "--path", "-R", str(reg)])[0] for _ in range(runs)]
    floor = [timed([sys.executable, "-c", "pass"])[0] for _ in range(runs)]
    RESULTS["get"] = {
        "first": first,
        "cached": summary("cached, fresh process", cached),
        "python -c pass": summary("python -c pass", floor),
    }


def fig_s3(work: Path, src: Path, runs: int, jobs: int, server: Any) -> None:
    size = src.stat().st_size
    print(f"4. push / pull of {size / MiB:.0f} MiB with SeaweedFS against boto3 ({load()})")
    v2 = work / "v2.bin"
    shutil.copyfile(src, v2)
    rng = random.Random(99)
    with open(v2, "r+b") as fh:  # 10 % of the bytes rewritten, in 10 places
        for k in range(10):
            fh.seek(k * (size // 10) + size // 40)
            fh.write(rng.randbytes(size // 100))
    bucket = server.create_bucket("bench-transfer")
    base_env = {**os.environ, **server.env()}
    reg = init(work / "s3reg", "s3://x/y", server.endpoint_url)
    mr("register", "m", src, "-R", reg)
    mr("register", "m", v2, "-R", reg)
    times: dict[str, list[float]] = {k: [] for k in ("upload_file", "push", "push 90% shared", "download_file", "pull")}
    for i in range(runs + 1):
        prefix = f"run{i}"
        env = {**base_env, "MODELREG_REMOTE": f"s3://{bucket}/{prefix}"}
        up = timed(
            [sys.executable, "-c", BOTO, server.endpoint_url, "up", bucket, f"{prefix}/whole", str(src)], base_env
        )[0]
        push = timed([*MODELREG, "push", "m@1", "-R", str(reg), "--jobs", str(jobs)], env)[0]
        second = timed([*MODELREG, "push", "m@2", "-R", str(reg), "--jobs", str(jobs)], env)[0]
        out = work / "downloaded"
        down = timed(
            [sys.executable, "-c", BOTO, server.endpoint_url, "down", bucket, f"{prefix}/whole", str(out)], base_env
        )[0]
        out.unlink()
        mate = clone(reg, work / f"mate{i}")
        pull = timed([*MODELREG, "pull", "m@1", "-R", str(mate), "--jobs", str(jobs)], env)[0]
        shutil.rmtree(mate)
        if i:
            for key, value in (
                ("upload_file", up),
                ("push", push),
                ("push 90% shared", second),
                ("download_file", down),
                ("pull", pull),
            ):
                times[key].append(value)
    row = {k: summary(k, v) for k, v in times.items()}
    row["push / upload_file"] = row["push"]["median"] / row["upload_file"]["median"]
    row["pull / download_file"] = row["pull"]["median"] / row["download_file"]["median"]
    row["second push / first push"] = row["push 90% shared"]["median"] / row["push"]["median"]
    for key in ("push / upload_file", "pull / download_file", "second push / first push"):
        print(f"  {key:<44} {row[key]:.2f}x (medians)")
    print(f"  ({load()})")
    RESULTS["s3"] = row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="dedup,register,get,s3")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--baseline", type=Path, help="a directory holding another modelreg package to time too")
    parser.add_argument("--compile", action="store_true", help="byte-compile the timed packages first, as pip does")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="chunks-bench-", dir=os.environ.get("TMPDIR", "/tmp")))
    work.mkdir(parents=True, exist_ok=True)
    RESULTS["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "start": load()}
    if args.compile:
        for package in [HERE.parent / "modelreg"] + ([args.baseline / "modelreg"] if args.baseline else []):
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
        print("packages byte-compiled (--compile)")
    RESULTS["machine"]["compiled"] = args.compile
    print(f"work directory {work}; {os.cpu_count()} CPUs; {load()}")
    try:
        src = random_file(work / "src.bin", args.size_mib * MiB, seed=1)
        server = seaweed() if only & {"dedup", "s3"} else None
        if server is not None:
            server.start()
        try:
            if "dedup" in only:
                fig_dedup(work, server)
            if "register" in only:
                fig_register(work, src, args.runs, args.baseline)
            if "get" in only:
                fig_get(work, src, args.runs)
            if "s3" in only:
                fig_s3(work, src, max(1, args.runs // 2 + 1), args.jobs, server)
        finally:
            if server is not None:
                server.stop()
    finally:
        RESULTS["machine"]["end"] = load()
        if args.json:
            args.json.write_text(json.dumps(RESULTS, indent=2))
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
