"""Peak memory (RSS, from /usr/bin/time -v) of the commands whose memory must not follow the size
of what they read: pull and get from a remote that holds millions of other chunks, pull of a
large model, and log / log -n / log --json / verify on a long audit log.

    python benchmarks/bounded_memory.py                       # 1 GiB model, 3.2 M other chunks, 1 GiB log
    python benchmarks/bounded_memory.py --model-mib 256 --other-chunks 500000 --log-mib 200
    PYTHONPATH=/path/to/other/checkout python benchmarks/bounded_memory.py   # the same figures for another tree

Each command is a fresh ``python -m modelreg`` process (the modelreg that PYTHONPATH or the
environment gives). Every figure is printed with the size it was measured at, so that two trees
compare line by line. Standard library only, plus modelreg itself and tests/ helpers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.audit_bulk import grow_log  # noqa: E402
from support.remote_bulk import add_other_packs  # noqa: E402

TRACKED = ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models")


def modelreg(*args: object, stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    """Run one command under /usr/bin/time -v; (peak RSS in MiB, wall seconds). Fails loudly."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "modelreg", *map(str, args)]
    start = time.monotonic()
    # Not from a checkout's root: ``python -m`` would import the modelreg found there first.
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False, cwd=tempfile.gettempdir())
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert found, proc.stderr[-500:]
    return int(found.group(1)) / 1024, wall


def clone(src: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def set_remote(reg: Path, url: Path) -> None:
    toml = reg / "modelreg.toml"
    head, _, _ = toml.read_text().partition("[remote]")
    toml.write_text(head + f'[remote]\nurl = "{url}"\npush_on_register = false\n')


def write_model(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(1 << 20))


def show(what: str, rss: float, wall: float) -> None:
    print(f"{what:<58} peak RSS {rss:8.1f} MiB   {wall:7.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-mib", type=int, default=1024)
    parser.add_argument("--other-chunks", type=int, default=3_200_000)
    parser.add_argument("--log-mib", type=int, default=1024)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the registries here")
    args = parser.parse_args()
    where = subprocess.run(
        [sys.executable, "-c", "import modelreg; print(modelreg.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    print(f"modelreg from {Path(where.stdout.strip()).parent}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mr-bounded-"))
    try:
        run(work, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> None:
    remote = work / "remote"
    remote.mkdir(parents=True)
    origin = work / "origin"
    modelreg("init", origin)
    set_remote(origin, remote)
    model = work / "src" / "model.bin"
    write_model(model, args.model_mib)
    modelreg("register", "m", model, "-R", origin)
    modelreg("push", "-R", origin)
    model.unlink()
    other = add_other_packs(remote, args.other_chunks // 1000) if args.other_chunks else 0
    print(f"remote: the model's chunks plus {other:,} other chunks")

    rss, wall = modelreg("pull", "-R", clone(origin, work / "pull"), "--jobs", args.jobs)
    show(f"pull {args.model_mib} MiB model, --jobs {args.jobs}", rss, wall)
    rss, wall = modelreg("pull", "-R", clone(origin, work / "pull1"), "--jobs", 1)
    show(f"pull {args.model_mib} MiB model, --jobs 1", rss, wall)
    rss, wall = modelreg("get", "m@1", "--output", work / "out", "-R", clone(origin, work / "get"))
    show(f"get --output {args.model_mib} MiB model", rss, wall)
    shutil.rmtree(work / "out")

    # The small case: 30 MB pulled from the same crowded remote.
    small = work / "small"
    modelreg("init", small)
    set_remote(small, remote)
    write_model(work / "src30" / "model.bin", 30)
    modelreg("register", "s", work / "src30" / "model.bin", "-R", small)
    modelreg("push", "-R", small)
    rss, wall = modelreg("pull", "-R", clone(small, work / "pull30"))
    show(f"pull 30 MiB model, remote with {other:,} other chunks", rss, wall)

    log = clone(origin, work / "log")
    entries = max(1, (args.log_mib << 20) // 600)
    size = grow_log(log, entries, reason_bytes=430)
    print(f"audit log: {size / (1 << 20):.0f} MiB, {entries + 2:,} entries")
    for command in (["log", "-n", "10"], ["log"], ["log", "--json"], ["verify"]):
        rss, wall = modelreg(*command, "-R", log)
        show(" ".join(command), rss, wall)


if __name__ == "__main__":
    main()
