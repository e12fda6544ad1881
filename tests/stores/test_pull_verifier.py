"""The pull verifier hashes each file while its chunks arrive: reads that run ahead of it wait
(memory stays capped), the read that brings what it waits for always gets in, and when no read
can bring it (every read waits on it) it gives up instead of hanging, so that the file is hashed
from the store afterwards. Real threads, ordered by events, never by sleeps."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from modelreg.stores.chunks.format import Recipe, chunk_id
from modelreg.stores.chunks.index import ChunkIndex
from modelreg.stores.chunks.pull import _Verifier

CHUNK = 64 << 10


def _file(chunks: int) -> tuple[list[bytes], Recipe]:
    datas = [os.urandom(CHUNK) for _ in range(chunks)]
    digest = "sha256:" + hashlib.sha256(b"".join(datas)).hexdigest()
    return datas, Recipe(digest, CHUNK * chunks, tuple((chunk_id(d), CHUNK) for d in datas))


def _read(datas: list[bytes], first: int, count: int) -> list[tuple[bytes, memoryview]]:
    """What one ranged read of ``count`` chunks from ``first`` offers: views of one buffer."""
    view = memoryview(b"".join(datas[first : first + count]))
    return [(chunk_id(datas[first + i]), view[i * CHUNK : (i + 1) * CHUNK]) for i in range(count)]


def _verifier(tmp_path: Path, recipe: Recipe, cap: int) -> _Verifier:
    return _Verifier(ChunkIndex(tmp_path), [recipe], {cid for cid, _ in recipe.chunks}, cap)


def test_reads_that_run_ahead_wait_and_the_file_is_still_hashed_as_it_arrives(tmp_path: Path) -> None:
    datas, recipe = _file(16)
    verifier = _verifier(tmp_path, recipe, cap=2 * 4 * CHUNK)  # two reads of four chunks
    verifier.expect(fetches=4, threads=4)
    ahead = [threading.Thread(target=verifier.offer, args=(_read(datas, i, 4), 4 * CHUNK)) for i in (4, 8, 12)]
    for thread in ahead:  # the later reads arrive first: two are let in, the third waits for room
        thread.start()
    verifier.start()  # it waits for chunk 0, which only the first read brings
    first = threading.Thread(target=verifier.offer, args=(_read(datas, 0, 4), 4 * CHUNK))
    first.start()
    for thread in [*ahead, first]:
        thread.join(timeout=60)
        assert not thread.is_alive()
        verifier.fetched_one()
    verifier.fetched_all()
    assert verifier.digests == {recipe.digest: recipe.digest}  # hashed on the way, not given up


def test_a_verifier_that_no_read_can_feed_gives_up_instead_of_hanging(tmp_path: Path) -> None:
    datas, recipe = _file(12)
    verifier = _verifier(tmp_path, recipe, cap=4 * CHUNK)
    verifier.expect(fetches=2, threads=1)  # one read at a time: the one that waits holds the line
    verifier.offer(_read(datas, 8, 4), 4 * CHUNK)  # fills the cap
    verifier.start()  # waits for chunk 0
    blocked = threading.Thread(target=verifier.offer, args=(_read(datas, 4, 4), 4 * CHUNK))
    blocked.start()  # over the cap and without chunk 0: it waits, and nothing else can run
    blocked.join(timeout=60)
    assert not blocked.is_alive()
    verifier.fetched_one()
    verifier.fetched_one()
    verifier.fetched_all()
    assert verifier.digests == {}  # gave up: the file is hashed from the store afterwards
