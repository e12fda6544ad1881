"""Packs written through the staging buffers (direct I/O where the filesystem takes it) hold
exactly the chunks their index lists, across stage and pack boundaries, and an abort leaves no
temporary file behind."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from modelreg.stores.chunks.format import PACK_CAP, chunk_id, decode_index
from modelreg.stores.chunks.packs import ALIGN, STAGE, PackWriter


def _chunks(total: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, size = [], 0
    while size < total:
        # Lengths that are rarely block multiples, with a few exact ones and some tiny ones.
        n = rng.choice([rng.randrange(1, 300_000), ALIGN, 3 * ALIGN, rng.randrange(1, 64)])
        out.append(os.urandom(n))
        size += n
    return out


def _published(packs: Path) -> dict[str, list[tuple[bytes, int]]]:
    found = {}
    for idx in sorted(packs.glob("*.idx")):
        name = idx.name.removesuffix(".idx")
        found[name] = list(decode_index(idx.read_bytes(), name).chunks)
    return found


def _check(packs: Path, chunks: list[bytes]) -> None:
    by_id = {chunk_id(c): c for c in chunks}
    seen = set()
    for name, entries in _published(packs).items():
        data = (packs / f"{name}.pack").read_bytes()
        assert len(data) == sum(n for _, n in entries) <= PACK_CAP
        offset = 0
        for cid, n in entries:
            assert data[offset : offset + n] == by_id[cid]
            seen.add(cid)
            offset += n
    assert seen == set(by_id)
    assert not [p for p in packs.iterdir() if p.name.endswith(".mrtmp")]


@pytest.mark.parametrize("where", ["tmp", "shm"])
def test_packs_hold_exactly_their_chunks(tmp_path: Path, where: str) -> None:
    base = tmp_path if where == "tmp" else Path("/dev/shm")
    if not base.is_dir():
        pytest.skip("no /dev/shm here")
    packs = base / f"packs-{os.getpid()}-{where}"
    try:
        chunks = _chunks(PACK_CAP + 3 * STAGE + 12345, seed=1)  # two packs, many stage buffers
        writer = PackWriter(packs)
        batch: list[bytes] = []
        for chunk in chunks:  # runs of several chunks, as ingest hands them over
            batch.append(chunk)
            if len(batch) == 7:
                writer.add([(chunk_id(c), len(c)) for c in batch], memoryview(b"".join(batch)))
                batch = []
        if batch:
            writer.add([(chunk_id(c), len(c)) for c in batch], memoryview(b"".join(batch)))
        published = writer.finish()
        assert len(published) == 2
        _check(packs, chunks)
    finally:
        if where == "shm":
            import shutil

            shutil.rmtree(packs, ignore_errors=True)


def test_abort_leaves_published_packs_and_no_temporary_file(tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    chunks = _chunks(PACK_CAP + 2 * STAGE, seed=2)
    writer = PackWriter(packs)
    added = []
    for chunk in chunks:
        writer.add([(chunk_id(chunk), len(chunk))], memoryview(chunk))
        added.append(chunk)
        if sum(map(len, added)) > PACK_CAP + STAGE:
            break
    writer.abort()
    published = _published(packs)
    assert len(published) == 1  # the full pack was published; the one being filled is gone
    assert not [p for p in packs.iterdir() if p.name.endswith(".mrtmp")]
    first = next(iter(published.values()))
    _check(packs, added[: len(first)])
