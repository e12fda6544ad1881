"""Chunked dedup side by side: modelreg (format 2) against restic and borg on the same files.

usage: python benchmarks/dedup_peers.py [--runs N] [--only a,b,c,d] [--scale 1.0] [--json FILE]

Scenarios (each tool starts from an empty repository; versions are written to one path in turn,
as a training job overwrites its output):

a. v1 and v2 of a ~640 MB safetensors-like file (40 tensors) whose v2 changes 3 tensors (42 MiB);
b. the same v1, then v1 with metadata added to its header (the tensors shift by the growth);
c. 10 versions of a 200 MB file, each changing 1 % of its bytes: 100 runs of 20,000 random bytes
   at random places (a new random choice for each version, applied to the previous version);
d. one 512 MiB file of random bytes (nothing to share: the cost of chunking and the overhead).

For each: bytes the repository holds after every version (apparent size of every file under it),
and wall time of each store command (fresh process). With --runs N the whole scenario is run N
times with fresh repositories, the tools' order rotating, and the median wall time is shown.
The machine's load is printed with each figure.

How each is configured (each with its default chunker):
- modelreg: `modelreg init` (format 2: FastCDC 16/64/256 KiB, BLAKE3 ids, 64 MiB packs, no
  compression, no encryption); `modelreg register m FILE`.
- restic: `restic init --repository-version 2` then `restic backup --compression off FILE`
  (Rabin chunker 512 KiB / 1 MiB / 8 MiB; encryption cannot be turned off); cache in the work dir.
- borg: `borg init --encryption none`, `borg create --compression none REPO::vN FILE` (buzhash
  chunker 2^19 / 2^21 / 2^23 bytes, window 4095); cache and config in the work directory.
Compression is off for all three: the payloads are random (incompressible) bytes, and modelreg
does not compress, so compression would only cost time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chunks_bench import MODELREG, MiB, load, safetensors

TOOLS = ("modelreg", "restic", "borg")


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall


class Tool:
    """One tool's repository in ``home``: ``store(path, n)`` keeps version n of the file at path."""

    def __init__(self, name: str, home: Path) -> None:
        self.name, self.home = name, home
        self.repo = home / "repo"
        home.mkdir(parents=True)
        self.env = {**os.environ}
        if name == "modelreg":
            run([*MODELREG, "init", str(self.repo)], self.env, home)
        elif name == "restic":
            self.env |= {
                "RESTIC_PASSWORD": "bench",
                "RESTIC_CACHE_DIR": str(home / "cache"),
                "RESTIC_PROGRESS_FPS": "0",
            }
            run(["restic", "-r", str(self.repo), "init", "--repository-version", "2"], self.env, home)
        else:
            self.env |= {
                "BORG_CACHE_DIR": str(home / "cache"),
                "BORG_CONFIG_DIR": str(home / "config"),
                "BORG_SECURITY_DIR": str(home / "security"),
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
            }
            run(["borg", "init", "--encryption", "none", str(self.repo)], self.env, home)

    def store(self, path: Path, n: int) -> float:
        if self.name == "modelreg":
            cmd = [*MODELREG, "register", "m", str(path), "-R", str(self.repo)]
        elif self.name == "restic":
            cmd = ["restic", "-r", str(self.repo), "backup", "--compression", "off", "--quiet", str(path)]
        else:
            cmd = ["borg", "create", "--compression", "none", f"{self.repo}::v{n}", str(path)]
        return run(cmd, self.env, path.parent)


def registry_bytes(tool: Tool) -> int:
    return tree_bytes(tool.repo)


# -- the versions -----------------------------------------------------------------------------------


def tensors(scale: float) -> list[tuple[str, int, int]]:
    named = [("embed", int(64 * MiB * scale), 1)]
    for layer in range(13):
        named += [
            (f"l{layer}.attn", int(18 * MiB * scale), 10 + layer),
            (f"l{layer}.mlp", int(24 * MiB * scale), 40 + layer),
        ]
        named += [(f"l{layer}.norm", 8 << 10, 70 + layer)]
    return named[:40]


def versions_a(work: Path, scale: float) -> list[Callable[[Path], None]]:
    named = tensors(scale)
    v2 = [(n, s, seed + 1000 if n in ("l6.attn", "l2.mlp", "l4.norm") else seed) for n, s, seed in named]
    return [lambda p: safetensors(p, named, "step=1000"), lambda p: safetensors(p, v2, "step=1000")]


def versions_b(work: Path, scale: float) -> list[Callable[[Path], None]]:
    named = tensors(scale)
    grown = "step=1000; " + "; ".join(f"eval.metric_{i}=0.{i:04d}" for i in range(40))
    return [lambda p: safetensors(p, named, "step=1000"), lambda p: safetensors(p, named, grown)]


def versions_c(work: Path, scale: float) -> list[Callable[[Path], None]]:
    size = int(200e6 * scale)
    runs, run_len = 100, size // 100 // 100  # 1 % of the bytes in 100 places
    base = work / "c-base.bin"
    rng = random.Random(7)
    with open(base, "wb") as fh:
        left = size
        while left:
            n = min(left, 64 * MiB)
            fh.write(rng.randbytes(n))
            left -= n

    def version(k: int) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            if k == 0:
                shutil.copyfile(base, path)
                return
            change = random.Random(100 + k)
            with open(path, "r+b") as fh:  # path holds version k-1
                for _ in range(runs):
                    fh.seek(change.randrange(size - run_len))
                    fh.write(change.randbytes(run_len))

        return write

    return [version(k) for k in range(10)]


def versions_d(work: Path, scale: float) -> list[Callable[[Path], None]]:
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            left = int(512 * MiB * scale)
            while left:
                n = min(left, 64 * MiB)
                fh.write(os.urandom(n))
                left -= n

    return [write]


SCENARIOS = {
    "a": ("640 MB safetensors, v2 changes 3 tensors", versions_a),
    "b": ("640 MB safetensors, v2 grows the header", versions_b),
    "c": ("200 MB file, 10 versions, 1 % changed each", versions_c),
    "d": ("512 MiB of random bytes, no sharing", versions_d),
}


def scenario(key: str, work: Path, scale: float, runs: int) -> dict[str, Any]:
    title, make = SCENARIOS[key]
    print(f"{key}. {title} ({load()})", flush=True)
    walls: dict[str, list[list[float]]] = {t: [] for t in TOOLS}
    stored: dict[str, list[int]] = {}
    sizes: list[int] = []
    for r in range(runs):
        base = work / f"{key}{r}"
        base.mkdir()
        order = TOOLS[r % 3 :] + TOOLS[: r % 3]
        tools = {t: Tool(t, base / t) for t in order}
        data = base / "model.bin"
        per_tool: dict[str, list[float]] = {t: [] for t in TOOLS}
        after: dict[str, list[int]] = {t: [] for t in TOOLS}
        sizes = []
        for n, write in enumerate(make(base, scale)):
            write(data)
            sizes.append(data.stat().st_size)
            subprocess.run(["sync", "-f", str(base)], check=False)
            for t in order:
                per_tool[t].append(tools[t].store(data, n))
                after[t].append(registry_bytes(tools[t]))
                subprocess.run(["sync", "-f", str(base)], check=False)
        for t in TOOLS:
            walls[t].append(per_tool[t])
        stored = after
        shutil.rmtree(base)
    row: dict[str, Any] = {"file_bytes": sizes, "tools": {}}
    for t in TOOLS:
        first = statistics.median(w[0] for w in walls[t])
        later = statistics.median(sum(w[1:]) / max(1, len(w) - 1) for w in walls[t]) if len(sizes) > 1 else None
        total = stored[t][-1]
        added = stored[t][-1] - stored[t][0] if len(sizes) > 1 else None
        row["tools"][t] = {"stored_after_each": stored[t], "first_wall": first, "later_wall": later}
        text = f"  {t:<9} repository {total / MiB:8.1f} MiB after {len(sizes)} version(s)"
        if added is not None:
            changed = sum(sizes[1:])
            text += f"; versions 2..{len(sizes)} added {added / MiB:7.1f} MiB ({100 * added / changed:5.1f} %)"
        text += f"; wall v1 {first:6.2f} s"
        if later is not None:
            text += f", later versions {later:6.2f} s each"
        print(text, flush=True)
    print(f"  ({load()})", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", default="a,b,c,d")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the files (0.1 for a quick look)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for tool in ("restic", "borg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install restic borgbackup)")
    versions = {
        "restic": subprocess.run(["restic", "version"], capture_output=True, text=True, check=False).stdout.strip(),
        "borg": subprocess.run(["borg", "--version"], capture_output=True, text=True, check=False).stdout.strip(),
    }
    work = Path(tempfile.mkdtemp(prefix="dedup-peers-", dir=args.workdir))
    print(f"work directory {work}; {os.cpu_count()} CPUs; {versions['restic']}; {versions['borg']}; {load()}")
    results: dict[str, Any] = {"versions": versions, "start": load()}
    try:
        for key in args.only.split(","):
            results[key] = scenario(key, work, args.scale, args.runs)
    finally:
        results["end"] = load()
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
