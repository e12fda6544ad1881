"""The bytes of format version 2's chunk store (docs/storage-format.md is the reference).

- A chunk id is the BLAKE3-256 of the chunk's bytes (32 bytes; 64 hex digits where shown).
- A pack (``<name>.pack``) is chunk bytes back to back, at most ``PACK_CAP`` long.
- Its index (``<name>.idx``) lists the chunks in pack order: ``IDX_MAGIC``, u32 count, u64 pack
  size, then per chunk its id and u32 length; offsets are the running sum, so the chunks tile the
  pack. ``<name>`` is the SHA-256 of the index bytes: the index proves itself, and the index with
  its chunk ids proves every byte of the pack.
- A recipe (``recipes/<file sha256 hex>``): ``RECIPE_MAGIC``, the file's SHA-256 (32 bytes), u64
  size, u32 average/min/max chunk size, u8 chunker and u8 id algorithm, u32 count, then per chunk
  its id and u32 length, in file order.
- A locator (``locators/<file sha256 hex>``, on a remote only): ``LOCATOR_MAGIC``, the file's
  SHA-256, u32 count, then the names (32 bytes each) of packs that together hold the file's
  chunks. Only a hint: a reader checks every chunk against the indexes it names.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from modelreg.errors import IntegrityError

AVG_SIZE = 64 << 10
MIN_SIZE = 16 << 10
MAX_SIZE = 256 << 10
PACK_CAP = 64 << 20
CHUNKER_FASTCDC2020 = 1  # FastCDC 2020, normalized chunking 1, seed 0 (pyfastcdc / fastcdc-rs v2020)
ID_BLAKE3 = 1

IDX_MAGIC = b"MRIDX\x00\x00\x01"
LOCATOR_MAGIC = b"MRLOC\x00\x00\x01"
_LOCATOR_HEAD = struct.Struct("<8s32sI")
RECIPE_MAGIC = b"MRRCP\x00\x00\x01"
_IDX_HEAD = struct.Struct("<8sIQ")
_RECIPE_HEAD = struct.Struct("<8s32sQIIIBBI")
_ENTRY = struct.Struct("<32sI")
ENTRY_SIZE = _ENTRY.size
NAME_RE = re.compile(r"[0-9a-f]{64}")

ChunkRef = tuple[bytes, int]  # (chunk id, length)


def chunk_id(data: bytes | bytearray | memoryview) -> bytes:
    import blake3

    return blake3.blake3(data).digest()


def max_chunks(size: int) -> int:
    """The most chunks a file of ``size`` bytes can have (every chunk at least MIN_SIZE but the last)."""
    return size // MIN_SIZE + 1


@dataclass(frozen=True)
class Recipe:
    digest: str  # sha256:<hex> of the file
    size: int
    chunks: tuple[ChunkRef, ...]
    avg: int = AVG_SIZE
    min: int = MIN_SIZE
    max: int = MAX_SIZE
    chunker: int = CHUNKER_FASTCDC2020
    id_algo: int = ID_BLAKE3

    def encode(self) -> bytes:
        head = _RECIPE_HEAD.pack(
            RECIPE_MAGIC,
            bytes.fromhex(self.digest.partition(":")[2]),
            self.size,
            self.avg,
            self.min,
            self.max,
            self.chunker,
            self.id_algo,
            len(self.chunks),
        )
        return head + b"".join(_ENTRY.pack(cid, n) for cid, n in self.chunks)


def recipe_limit(size: int) -> int:
    """The largest recipe a file of ``size`` bytes can have: a read bound."""
    return _RECIPE_HEAD.size + ENTRY_SIZE * max_chunks(size)


def decode_recipe(data: bytes, digest: str, size: int | None = None) -> Recipe:
    """Parse a recipe that should describe ``digest`` (and be ``size`` long when given)."""

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"the recipe of {digest} is corrupt: {why}", code="corrupt_recipe")

    if len(data) < _RECIPE_HEAD.size:
        raise bad("too short")
    magic, raw_digest, total, avg, lo, hi, chunker, id_algo, count = _RECIPE_HEAD.unpack_from(data)
    if magic != RECIPE_MAGIC:
        raise bad("not a recipe (wrong magic)")
    if "sha256:" + raw_digest.hex() != digest:
        raise bad("it describes another file")
    if size is not None and total != size:
        raise bad(f"it describes {total} bytes, the manifest records {size}")
    if id_algo != ID_BLAKE3:
        raise bad(f"unknown chunk id algorithm {id_algo}")
    if len(data) != _RECIPE_HEAD.size + count * ENTRY_SIZE or count > total // max(lo, 1) + 1:
        raise bad("its length does not match its chunk count")
    chunks = tuple(_ENTRY.iter_unpack(memoryview(data)[_RECIPE_HEAD.size :]))
    if sum(n for _, n in chunks) != total or any(n <= 0 for _, n in chunks):
        raise bad("its chunk lengths do not add up to the file size")
    return Recipe(digest, total, chunks, avg, lo, hi, chunker, id_algo)


@dataclass(frozen=True)
class PackIndex:
    """What one index says about its pack: chunk ids and lengths in pack order."""

    name: str
    pack_size: int
    chunks: tuple[ChunkRef, ...]

    def offsets(self) -> list[tuple[bytes, int, int]]:
        """(id, offset, length) of every chunk, in pack order."""
        out = []
        offset = 0
        for cid, n in self.chunks:
            out.append((cid, offset, n))
            offset += n
        return out


def encode_index(chunks: list[ChunkRef]) -> tuple[str, bytes]:
    """The index bytes of a pack holding ``chunks`` in that order, and the pack's name."""
    data = _IDX_HEAD.pack(IDX_MAGIC, len(chunks), sum(n for _, n in chunks)) + b"".join(
        _ENTRY.pack(cid, n) for cid, n in chunks
    )
    return hashlib.sha256(data).hexdigest(), data


def decode_index(data: bytes, name: str) -> PackIndex:
    """Parse an index that should be named ``name``: its SHA-256 must be that name."""

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"the pack index {name} is corrupt: {why}", code="corrupt_pack")

    if hashlib.sha256(data).hexdigest() != name:
        raise bad("its bytes do not hash to its name")
    if len(data) < _IDX_HEAD.size:
        raise bad("too short")
    magic, count, pack_size = _IDX_HEAD.unpack_from(data)
    if magic != IDX_MAGIC or len(data) != _IDX_HEAD.size + count * ENTRY_SIZE:
        raise bad("not an index, or its length does not match its chunk count")
    chunks = tuple(_ENTRY.iter_unpack(memoryview(data)[_IDX_HEAD.size :]))
    if sum(n for _, n in chunks) != pack_size:
        raise bad("its chunk lengths do not add up to the pack size")
    return PackIndex(name, pack_size, chunks)


def encode_locator(digest: str, packs: list[str]) -> bytes:
    """The locator of file ``digest``: the packs (names, in the order given) that hold its chunks."""
    head = _LOCATOR_HEAD.pack(LOCATOR_MAGIC, bytes.fromhex(digest.partition(":")[2]), len(packs))
    return head + b"".join(bytes.fromhex(name) for name in packs)


def locator_limit(size: int) -> int:
    """The largest locator of a file of ``size`` bytes (every chunk in a pack of its own)."""
    return _LOCATOR_HEAD.size + 32 * max_chunks(size)


def decode_locator(data: bytes, digest: str) -> list[str] | None:
    """The pack names a locator gives for ``digest``; None when it is not a locator of that file."""
    if len(data) < _LOCATOR_HEAD.size:
        return None
    magic, raw_digest, count = _LOCATOR_HEAD.unpack_from(data)
    if magic != LOCATOR_MAGIC or "sha256:" + raw_digest.hex() != digest:
        return None
    if len(data) != _LOCATOR_HEAD.size + 32 * count:
        return None
    body = data[_LOCATOR_HEAD.size :]
    return [body[i : i + 32].hex() for i in range(0, len(body), 32)]


INDEX_LIMIT = 16 << 20
"""A read bound for an index: 466,000 entries, far more than a 64 MiB pack of 16 KiB chunks needs."""
