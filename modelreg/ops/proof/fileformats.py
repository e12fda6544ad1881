"""A file's format read from its bytes, never its name, and the facts safety is judged from.

``read_facts`` returns the format (``pickle``, ``joblib``, ``pytorch``, ``zip``, ``numpy``,
``npz``, ``safetensors``, ``onnx``, ``gguf``, ``data``), the compression a pickle is wrapped in
(gzip, zlib, bz2, xz: joblib's ``compress=``), and for every file that holds pickle bytes the
globals they import, or why they could not be read to the end. Headers are read bounded; only
pickle bytes are walked, and raw tensor or array data is skipped by its length.
"""

from __future__ import annotations

import ast
import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .pickles import PickleFacts, looks_like_protocol01, scan

if TYPE_CHECKING:
    import zipfile

MAX_HEADER = 100 << 20  # safetensors caps its JSON header at 100 MB
MAX_NPY_HEADER = 1 << 20
MAX_MEMBERS = 100_000
EXPANSION = 64  # a compressed stream may expand this many times (and at least 4 GiB) while scanned
_PICKLE_MEMBERS = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".p")


@dataclass(frozen=True)
class Facts:
    format: str
    imports: tuple[str, ...] | None = None  # None: the file holds no pickle bytes
    unreadable: str | None = None  # why its pickle bytes could not be read to the end
    compression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": self.format}
        if self.compression:
            data["compression"] = self.compression
        if self.imports is not None:
            data["imports"] = list(self.imports)
        if self.unreadable:
            data["unreadable"] = self.unreadable
        return data


class _Pickles:
    """Facts gathered over the pickles of one file (a zip has several)."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.problems: list[str] = []
        self.found = False
        self.joblib = False

    def add(self, facts: PickleFacts, where: str = "") -> None:
        self.found = True
        self.imports |= facts.imports
        self.joblib = self.joblib or facts.joblib
        if not facts.complete:
            self.problems.append(f"{where}: {facts.problem}" if where else str(facts.problem))

    def facts(self, fmt: str, compression: str | None = None) -> Facts:
        if not self.found:
            return Facts(fmt, compression=compression)
        problem = "; ".join(self.problems[:3]) or None
        return Facts(fmt, tuple(sorted(self.imports)), problem, compression)


def read_facts(path: str | os.PathLike[str]) -> Facts:
    with open(path, "rb") as fh:
        return facts_of(fh, os.fstat(fh.fileno()).st_size)


def facts_of(fh: IO[bytes], size: int) -> Facts:
    head = fh.read(4096)  # a protocol-0 pickle's first import may come after a long argument
    fh.seek(0)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip(fh)
    if head.startswith(b"\x93NUMPY"):
        return _npy(fh, "numpy")
    if head.startswith(b"GGUF"):
        return Facts("gguf")
    if _is_safetensors(fh, head, size):
        return Facts("safetensors")
    if head.startswith(b"\x04\x22\x4d\x18"):
        # An LZ4 frame (joblib's compress="lz4"): no stdlib codec reads it, so it may hide a
        # pickle that joblib would load. Fail closed: pickle-bearing, not read.
        return Facts("pickle", (), "LZ4-compressed, which modelreg does not decompress", "lz4")
    compression = _compression(head)
    if compression is not None:
        return _compressed(fh, compression, size)
    if _is_pickle(head):
        facts = scan(fh)
        if head[0] == 0x80 or facts.complete or (facts.imports and facts.calls):
            found = _Pickles()
            found.add(facts)
            return found.facts("joblib" if found.joblib else "pickle")
        fh.seek(0)
    if _is_onnx(head):
        return Facts("onnx")
    return Facts("data")


def _is_pickle(head: bytes) -> bool:
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or looks_like_protocol01(head)


def _is_safetensors(fh: IO[bytes], head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not 2 <= length <= MAX_HEADER or 8 + length > size or head[8:9] != b"{":
        return False
    fh.seek(8)
    raw = fh.read(length)
    fh.seek(0)
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict)


def _is_onnx(head: bytes) -> bool:
    """ONNX has no magic: a ModelProto opens with its ir_version (field 1, a small varint)
    followed by one of its other fields."""
    return len(head) >= 4 and head[0] == 0x08 and 1 <= head[1] <= 30 and head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x3A, 0x42)


def _compression(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


class _Inflating(io.RawIOBase):
    """A decompressing read-only stream (stdlib codecs only), never seekable."""

    def __init__(self, fh: IO[bytes], kind: str) -> None:
        import bz2
        import lzma
        import zlib

        self.fh = fh
        self.pending = b""
        if kind == "gzip":
            self.codec: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "zlib":
            self.codec = zlib.decompressobj()
        elif kind == "bz2":
            self.codec = bz2.BZ2Decompressor()
        else:
            self.codec = lzma.LZMADecompressor()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size > 0 else 1 << 20
        while len(self.pending) < want:
            chunk = self.fh.read(1 << 20)
            if not chunk:
                break
            try:
                self.pending += self.codec.decompress(chunk)
            except (OSError, EOFError, ValueError, zlib.error) as exc:  # zlib.error is none of those
                raise ValueError(str(exc)) from None
            if getattr(self.codec, "eof", False):
                break
        out, self.pending = self.pending[:want], self.pending[want:]
        return out


def _compressed(fh: IO[bytes], kind: str, size: int) -> Facts:
    from .pickles import Reader, Unreadable

    stream = _Inflating(fh, kind)
    budget = max(4 << 30, size * EXPANSION)
    try:
        reader = Reader(stream, budget)  # type: ignore[arg-type]
        head = reader.peek(4096)
    except (ValueError, Unreadable):
        return Facts("data", compression=kind)
    if not _is_pickle(head):
        return Facts("data", compression=kind)
    found = _Pickles()
    try:
        found.add(scan(stream, reader=reader))  # type: ignore[arg-type]
    except ValueError as exc:
        found.found = True
        found.problems.append(f"the {kind} stream is damaged ({exc})")
    return found.facts("joblib" if found.joblib else "pickle", kind)


def _npy(fh: IO[bytes], fmt: str, found: _Pickles | None = None, where: str = "") -> Facts:
    """A NumPy array file: its header says whether the data is raw or a pickle (object arrays)."""
    own = found or _Pickles()
    magic = fh.read(8)
    if len(magic) < 8:
        own.found = True
        own.problems.append(f"{where or 'the file'}: a truncated .npy header")
        return own.facts(fmt)
    major = magic[6]
    length_bytes = 2 if major == 1 else 4
    raw_len = fh.read(length_bytes)
    length = int.from_bytes(raw_len, "little") if len(raw_len) == length_bytes else -1
    header: Any = None
    if 0 <= length <= MAX_NPY_HEADER:
        try:
            header = ast.literal_eval(fh.read(length).decode("latin1"))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            header = None
    if not isinstance(header, dict) or "descr" not in header:
        own.found = True
        own.problems.append(f"{where or 'the file'}: an .npy header it cannot read")
        return own.facts(fmt)
    if _holds_objects(header["descr"]):
        own.add(scan(fh), where)
    return own.facts(fmt)


def _holds_objects(descr: Any, depth: int = 0) -> bool:
    """Whether an array description holds Python objects (stored as a pickle); fails closed."""
    if depth > 32:
        return True
    if isinstance(descr, str):
        return "O" in descr
    if isinstance(descr, (list, tuple)):
        return any(_holds_objects(item, depth + 1) for item in descr)
    return True


def _members(archive: zipfile.ZipFile) -> Iterator[zipfile.ZipInfo]:
    for count, info in enumerate(archive.infolist()):
        if count >= MAX_MEMBERS:
            raise ValueError(f"more than {MAX_MEMBERS:,} members")
        if not info.is_dir():
            yield info


def _zip(fh: IO[bytes]) -> Facts:
    """A zip: PyTorch's (``*/data.pkl``), NumPy's .npz, or any other; the pickles inside are
    read where they are (a stored member is read in place; a compressed one streamed)."""
    import zipfile  # here: most files registered are not zips, and it costs 2 ms to import

    found = _Pickles()
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        found.found = True
        found.problems.append("a zip archive it cannot open")
        return found.facts("zip")
    with archive:
        try:
            infos = list(_members(archive))
        except ValueError as exc:
            found.found = True
            found.problems.append(str(exc))
            return found.facts("zip")
        names = [i.filename for i in infos]
        torch = any(n == "data.pkl" or n.endswith("/data.pkl") for n in names)
        npz = bool(names) and all(n.endswith(".npy") for n in names)
        for info in infos:
            lowered = info.filename.lower()
            try:
                with archive.open(info) as member:
                    if npz or lowered.endswith(".npy"):
                        _npy(member, "npz", found, info.filename)
                    elif lowered.endswith(".pkl") or (not torch and lowered.endswith(_PICKLE_MEMBERS)):
                        head = member.read(4096)
                        if _is_pickle(head) or lowered.endswith(".pkl"):
                            reader_stream = io.BufferedReader(_Prefixed(head, member))
                            found.add(scan(reader_stream, budget=_member_budget(info)), info.filename)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                found.found = True
                found.problems.append(f"{info.filename}: cannot be read ({exc})")
        fmt = "pytorch" if torch else "npz" if npz else "zip"
        return found.facts(fmt)


def _member_budget(info: zipfile.ZipInfo) -> int:
    return max(4 << 30, info.compress_size * EXPANSION)


class _Prefixed(io.RawIOBase):
    """Bytes already read (a member's head), then the rest of the member."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
