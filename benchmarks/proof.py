"""Figures of proof: what reading a file's format and pickle imports costs at register, next to
register's own hashing of the same bytes, and what signing and verifying a version of 1,000
files costs.

usage: python benchmarks/proof.py [--runs N] [--size-mib 1024] [--pickle-mib 200] [--files 1000]
                                  [--workdir DIR] [--only scan,sign]

1. scan: a safetensors-like file of --size-mib (a JSON header and pseudo-random tensor bytes), a
   pickle of --pickle-mib made of NumPy arrays (protocol 4, the bytes inside BINBYTES8), a joblib
   dump of the same arrays (raw array bytes between pickle frames), and a pickle of a list of
   small floats of about --pickle-mib (the worst case: one opcode every 9 bytes). Each is read by
   ``read_facts`` and hashed by ``stores.hashing.sha256_file`` (register's SHA-256), interleaved,
   in this process after one untimed warm-up read (the page cache holds the file: both read the
   same bytes from memory). MB/s of each and the ratio scan/hash.
2. sign: a registry with one version of --files small files, registered through the library;
   ``Registry.sign`` with a P-256 key, then checking the signature as verify does
   (``ops.proof.sign.signers_of``), then OpenSSF's ``model_signing verify key`` on the files
   written by ``get --output --signature`` (when model_signing is installed), against
   ``sha256sum`` of the same files as the floor of any check that reads them.

Medians of --runs runs; the load average is printed with each figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_random(fh: object, size: int, seed: int) -> None:
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    left = size
    while left > 0:
        n = min(left, len(block))
        fh.write(block[:n])  # type: ignore[attr-defined]
        left -= n
        block = block[1:] + block[:1]


def make_files(work: Path, size_mib: int, pickle_mib: int) -> dict[str, Path]:
    import numpy as np

    files = {}
    header = {f"layer{i}.weight": {"dtype": "F32", "shape": [size_mib * (1 << 20) // 4 // 16],
                                   "data_offsets": [0, 0]} for i in range(16)}  # fmt: skip
    raw = json.dumps(header).encode()
    path = work / "model.safetensors"
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        write_random(fh, size_mib << 20, 1)
    files[f"safetensors {size_mib} MiB"] = path
    rng = np.random.default_rng(0)
    arrays = {f"w{i}": rng.random((pickle_mib << 20) // 8 // 20) for i in range(20)}
    path = work / "arrays.pkl"
    with open(path, "wb") as fh:
        pickle.dump(arrays, fh, protocol=4)
    files[f"pickle of NumPy arrays {pickle_mib} MiB"] = path
    import joblib

    path = work / "arrays.joblib"
    joblib.dump(arrays, path)
    files[f"joblib of NumPy arrays {pickle_mib} MiB"] = path
    path = work / "floats.pkl"
    with open(path, "wb") as fh:
        pickle.dump([float(i) for i in range((pickle_mib << 20) // 9)], fh, protocol=4)
    files[f"pickle of a list of floats {pickle_mib} MiB"] = path
    return files


def bench_scan(work: Path, args: argparse.Namespace) -> None:
    from modelreg.ops.proof.fileformats import read_facts
    from modelreg.stores.hashing import sha256_file

    files = make_files(work, args.size_mib, args.pickle_mib)
    print(f"scan at register against register's SHA-256 ({load()})")
    for label, path in files.items():
        size = path.stat().st_size
        facts = read_facts(path)
        sha256_file(path)
        scan = median_time(lambda p=path: read_facts(p), args.runs)
        hashing = median_time(lambda p=path: sha256_file(p), args.runs)
        mb = size / 1e6
        print(
            f"  {label}: format {facts.format}, {len(facts.imports or ())} imports, "
            f"complete {facts.unreadable is None}; scan {mb / scan:,.0f} MB/s ({scan * 1000:.1f} ms), "
            f"SHA-256 {mb / hashing:,.0f} MB/s ({hashing * 1000:.1f} ms); scan/hash {scan / hashing:.3f}"
        )
    for path in files.values():
        path.unlink()


def bench_sign(work: Path, args: argparse.Namespace) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from modelreg import Registry
    from modelreg.ops.proof.sign import signers_of

    src = work / "many"
    src.mkdir()
    rng = random.Random(2)
    for i in range(args.files):
        (src / f"part-{i:05d}.bin").write_bytes(rng.randbytes(4096))
    reg, _ = Registry.init(work / "reg")
    version, _ = reg.register("many", src)
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = work / "signing.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pem = work / "signing.pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    print(f"sign and verify a version of {args.files:,} files ({load()})")
    sign = median_time(lambda: reg.sign("many@1", key_path, actor="bench"), args.runs)
    check = median_time(lambda: signers_of(reg, version), args.runs)
    print(f"  sign (no rehash, one change): {sign * 1000:.1f} ms; check as verify does: {check * 1000:.1f} ms")
    out = work / "served"
    reg.export(version, out, signature=True)
    names = sorted(str(p) for p in out.iterdir() if p.name != "model.sig")
    floor = median_time(lambda: subprocess.run(["sha256sum", *names], capture_output=True, check=True), args.runs)
    try:
        import model_signing  # noqa: F401
    except ImportError:
        print(f"  sha256sum of the files: {floor * 1000:.1f} ms (model_signing not installed)")
        return
    command = [sys.executable, "-m", "model_signing", "verify", "key", str(out), "--signature",
               str(out / "model.sig"), "--public_key", str(pem)]  # fmt: skip
    cli = median_time(lambda: subprocess.run(command, capture_output=True, check=True), args.runs)
    print(
        f"  model_signing verify key on the served files: {cli * 1000:.0f} ms; sha256sum of the files: "
        f"{floor * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--pickle-mib", type=int, default=200)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--only", default="scan,sign")
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-proof-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        parts = set(args.only.split(","))
        if "scan" in parts:
            bench_scan(base, args)
        if "sign" in parts:
            bench_sign(base, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
