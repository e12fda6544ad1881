"""Helpers of the chunked-storage tests: safetensors-like model files and looks inside a store."""

from __future__ import annotations

import json
import random
import re
import struct
from pathlib import Path

MiB = 1 << 20


def tensors(count: int, size: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [(f"layers.{i}.weight", rng.randbytes(size)) for i in range(count)]


def safetensors(path: Path, named: list[tuple[str, bytes]], metadata: str = "step=1000") -> Path:
    """A file laid out as safetensors is: u64 header length, a JSON header, then the tensors."""
    header: dict[str, object] = {"__metadata__": {"note": metadata}}
    offset = 0
    for name, data in named:
        header[name] = {"dtype": "F16", "shape": [len(data) // 2], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for _, data in named:
            fh.write(data)
    return path


def changed(named: list[tuple[str, bytes]], which: list[int], seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [(name, rng.randbytes(len(data)) if i in which else data) for i, (name, data) in enumerate(named)]


def store_bytes(reg: Path) -> int:
    """Bytes of every file under blobs/ (blobs, packs, indexes, recipes)."""
    root = reg / "blobs"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def packs(reg: Path) -> list[Path]:
    return sorted((reg / "blobs" / "chunks" / "packs").glob("*.pack"))


def recipes(reg: Path) -> list[Path]:
    return sorted((reg / "blobs" / "chunks" / "recipes").glob("*"))


def whole_blobs(reg: Path) -> list[Path]:
    return sorted(p for p in (reg / "blobs" / "sha256").rglob("*") if p.is_file())


def flip_byte(path: Path, offset: int) -> None:
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def set_format(reg: Path, version: int) -> None:
    toml = reg / "modelreg.toml"
    toml.write_text(re.sub(r"(?m)^format_version = \d+$", f"format_version = {version}", toml.read_text()))


def set_chunk_min_size(reg: Path, size: int) -> None:
    toml = reg / "modelreg.toml"
    toml.write_text(re.sub(r"(?m)^chunk_min_size = \d+$", f"chunk_min_size = {size}", toml.read_text()))
