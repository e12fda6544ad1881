"""push of chunked files (pull is in pull.py): only the chunks the remote lacks, several packs at a time.

Push learns what the remote holds from its pack listing and index objects (never a request per
chunk), uploads a local pack as it is when the remote lacks every chunk in it (a first push is
"PUT the local packs"), packs the other missing chunks anew in recipe order, and uploads each
pack before its index and every recipe last. A pack goes up a part (about 6 MiB) at a time, each
part's chunks checked against their ids before it is sent, from one reused buffer per thread (a
multipart upload on S3): memory follows ``--jobs``, not the size of packs. Pull fetches a whole
pack when it needs at least half of it, otherwise one ranged read per run of needed chunks,
checks every chunk against its id, and appends it to local packs published as they fill; a
recipe is written here only once the file it describes assembles to its digest. A kill at any
point loses at most the packs in flight: the next run finds what each side already has and moves
only the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from modelreg.base.fs import open_regular
from modelreg.base.parallel import run_parallel
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError

from .assemble import PackFiles
from .format import PACK_CAP, ChunkRef, PackIndex, Recipe, chunk_id, encode_index, encode_locator
from .remote_index import LOCATORS, RemoteIndex, idx_key, locator_key, pack_key, recipe_key
from .store import ChunkStore

if TYPE_CHECKING:
    from .objects import ObjectStore

FileRef = tuple[str, int]  # (digest, size)
# push reads, checks and sends a pack this much at a time, in whole chunks: memory follows --jobs,
# not packs. Above S3's least part (5 MiB) by more than a chunk.
PART = 6 << 20


@dataclass
class Moved:
    files: list[str] = field(default_factory=list)  # digests made present on the other side
    present: list[str] = field(default_factory=list)  # digests the other side already had
    bytes: int = 0  # pack bytes actually moved
    packs: int = 0
    absent: list[str] = field(default_factory=list)  # pull: digests the remote has no recipe of


class _Counter:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.bytes = 0
        self.packs = 0
        self._lock = threading.Lock()

    def add(self, n: int, packs: int = 0) -> None:
        with self._lock:
            self.bytes += n
            self.packs += packs
        if self.progress is not None and n:
            self.progress(n)


def run_jobs(jobs: list[Callable[[], None]], threads: int) -> None:
    """Run ``jobs`` on ``threads`` threads (base/parallel.py); the first failure cancels the rest."""
    run_parallel(jobs, threads)


# -- push ---------------------------------------------------------------------------------------


def push_files(
    store: ChunkStore,
    objects: ObjectStore,
    rindex: RemoteIndex,
    files: list[FileRef],
    jobs: int,
    progress: Progress | None,
    on_plan: Callable[[int], None] | None = None,
) -> Moved:
    """Send the chunks of ``files`` the remote lacks, then their recipes; ``on_plan`` hears the
    bytes that will be sent once that is known, before the first is."""
    moved = Moved()
    rindex.load(jobs)
    remote_recipes = objects.list("recipes/")
    remote_locators = objects.list(LOCATORS)
    local = store.index()
    need: dict[bytes, int] = {}
    recipes: list[Recipe] = []
    unlocated: list[Recipe] = []  # on the remote already, without a locator (pushed by an older modelreg)
    for digest, size in files:
        recipe = store.recipe(digest, size)
        lacking = [(cid, n) for cid, n in recipe.chunks if cid not in rindex]
        if not lacking and recipe_key(digest) in remote_recipes:
            moved.present.append(digest)
            if locator_key(digest) not in remote_locators:
                unlocated.append(recipe)
            continue
        recipes.append(recipe)
        for cid, n in lacking:
            need.setdefault(cid, n)
    counter = _Counter(progress)
    sent: dict[bytes, str] = {}  # chunk id -> the pack this push put it in
    work: list[Callable[[], None]] = []
    sending = 0
    seen: set[str] = set()
    whole: list[PackIndex] = []  # local packs the remote lacks entirely: sent as they are
    for cid in list(need):  # in file order, so that an interrupted push has sent the start
        where = local.locate(cid)
        if where is None or where[0] in seen:
            continue
        seen.add(where[0])
        pack = local.packs[where[0]]
        if all(c in need for c, _ in pack.chunks):
            whole.append(pack)
    # A pack's parts go one after the other: fewer whole packs than jobs (the changes of a new
    # version are one pack locally) would leave streams idle, so their chunks are packed anew.
    if len(whole) >= jobs:
        for pack in whole:
            work.append(partial(_send_local_pack, store, objects, pack, counter, sent))
            sending += pack.pack_size
            for c, _ in pack.chunks:
                need.pop(c, None)
    batch: list[ChunkRef] = []
    batch_size = 0
    # New packs small enough that --jobs of them go up at once (a pack's parts go one after the
    # other), but never below a part: a push of 50 MiB of changes is not one stream of 50 MiB.
    # Each closes where an even share of the total ends, so no small pack goes up alone after.
    total = sum(need.values())
    count = -(-total // min(PACK_CAP, max(PART, -(-total // max(1, jobs))))) or 1
    ends = iter([total * k // count for k in range(1, count)])
    end = next(ends, None)
    batched = 0
    for cid, n in need.items():
        if local.locate(cid) is None:
            raise NotFoundError(
                f"a chunk ({cid.hex()[:16]}…) of a file being pushed is not in the local store: "
                "'modelreg pull' or 'modelreg verify' first",
                code="blob_missing",
            )
        if batch and batch_size + n > PACK_CAP:
            work.append(partial(_send_new_pack, store, objects, batch, counter, sent))
            batch, batch_size = [], 0
        batch.append((cid, n))
        batch_size += n
        batched += n
        sending += n
        if end is not None and batched >= end:
            work.append(partial(_send_new_pack, store, objects, batch, counter, sent))
            batch, batch_size = [], 0
            end = next(ends, None)
            while end is not None and batched >= end:  # a chunk larger than a share
                end = next(ends, None)
    if batch:
        work.append(partial(_send_new_pack, store, objects, batch, counter, sent))
    if on_plan is not None:
        on_plan(sending)
    run_jobs(work, jobs)

    # Then each file's locator (the packs that hold its chunks: what a pull reads instead of
    # every index), then recipes last: a recipe on the remote means every chunk it lists is there.
    def locate(recipe: Recipe) -> None:
        packs = dict.fromkeys(sent.get(cid) or rindex.where[cid][0] for cid, _ in recipe.chunks)
        objects.write(locator_key(recipe.digest), encode_locator(recipe.digest, list(packs)))

    run_jobs([partial(locate, r) for r in [*recipes, *unlocated]], jobs)
    run_jobs([partial(objects.write, recipe_key(r.digest), r.encode()) for r in recipes], jobs)
    moved.files = [r.digest for r in recipes]
    moved.bytes, moved.packs = counter.bytes, counter.packs
    return moved


def _not_pushed(what: str) -> IntegrityError:
    return IntegrityError(
        f"{what} in the local store does not match its id, so it is not pushed: 'modelreg verify' names it, "
        "'modelreg pull' replaces it with the remote's copy",
        code="digest_mismatch",
    )


def _groups(chunks: list[tuple[bytes, int, int]]) -> list[list[tuple[bytes, int, int]]]:
    """(id, offset, length) of back-to-back chunks, in parts of at most PART bytes (or one chunk)."""
    groups: list[list[tuple[bytes, int, int]]] = []
    size = 0
    for chunk in chunks:
        if not groups or size + chunk[2] > PART:
            groups.append([])
            size = 0
        groups[-1].append(chunk)
        size += chunk[2]
    return groups


_buffers = threading.local()


def _part_buffer() -> memoryview:
    """This thread's part buffer, reused from part to part and pack to pack (fresh buffers of a part
    in each of --jobs threads would leave the allocator holding several of them per thread)."""
    buf: memoryview | None = getattr(_buffers, "part", None)
    if buf is None:
        buf = _buffers.part = memoryview(bytearray(PART))  # a part never holds more
    return buf


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    done = 0
    while done < len(view):  # a regular file reads whole, short only at its end
        n = os.preadv(fd, [view[done:]], offset + done)
        if not n:
            break
        done += n
    return done


def _send_local_pack(
    store: ChunkStore, objects: ObjectStore, pack: PackIndex, counter: _Counter, sent: dict[bytes, str]
) -> None:
    """Upload a local pack as it is, a part at a time, each part's chunks checked before it goes."""
    path = store.packs_dir / f"{pack.name}.pack"
    groups = _groups(list(pack.offsets()))

    def parts() -> Iterator[memoryview]:
        buf = _part_buffer()
        fd = open_regular(path)
        try:
            if os.fstat(fd).st_size != pack.pack_size:
                raise _not_pushed(f"pack {pack.name}")
            for group in groups:
                start = group[0][1]
                view = buf[: group[-1][1] + group[-1][2] - start]
                if _pread_into(fd, view, start) != len(view):
                    raise _not_pushed(f"pack {pack.name}")
                for cid, offset, length in group:
                    if chunk_id(view[offset - start : offset - start + length]) != cid:
                        raise _not_pushed(f"chunk {cid.hex()} of pack {pack.name}")
                yield view
        finally:
            os.close(fd)

    name, idx = encode_index(list(pack.chunks))
    objects.write_parts(pack_key(name), pack.pack_size, parts)
    objects.write(idx_key(name), idx)
    sent.update(dict.fromkeys((cid for cid, _ in pack.chunks), name))
    counter.add(pack.pack_size, 1)


def _send_new_pack(
    store: ChunkStore, objects: ObjectStore, batch: list[ChunkRef], counter: _Counter, sent: dict[bytes, str]
) -> None:
    """Pack ``batch`` anew from the local packs, a part at a time, each chunk checked before it goes."""
    local = store.index()
    places = [local.locate(cid) for cid, _ in batch]
    if any(p is None for p in places):
        raise _not_pushed("a chunk")
    located = [(cid, n, place) for (cid, n), place in zip(batch, places, strict=True) if place is not None]
    offsets: list[tuple[bytes, int, int]] = []
    at = 0
    for cid, n, _ in located:
        offsets.append((cid, at, n))
        at += n
    groups = _groups(offsets)

    def parts() -> Iterator[memoryview]:
        buf = _part_buffer()
        files = PackFiles(local)
        done = 0
        try:
            for group in groups:
                at = 0
                for cid, n, (pack, offset, _) in located[done : done + len(group)]:
                    piece = buf[at : at + n]
                    if _pread_into(files.fd(pack), piece, offset) != n or chunk_id(piece) != cid:
                        raise _not_pushed(f"chunk {cid.hex()}")
                    at += n
                done += len(group)
                yield buf[:at]
        finally:
            files.close()

    name, idx = encode_index(batch)
    objects.write_parts(pack_key(name), at, parts)
    objects.write(idx_key(name), idx)
    sent.update(dict.fromkeys((cid for cid, _ in batch), name))
    counter.add(at, 1)
