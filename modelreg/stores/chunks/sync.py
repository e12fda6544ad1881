"""push and pull of chunked files: only the chunks the other side lacks, several packs at a time.

Push learns what the remote holds from its pack listing and index objects (never a request per
chunk), uploads a local pack as it is when the remote lacks every chunk in it (a first push is
"PUT the local packs"), packs the other missing chunks anew in recipe order, and uploads each
pack before its index and every recipe last. Pull fetches a whole pack when it needs at least
half of it, otherwise one ranged read per run of needed chunks, checks every chunk against its
id, and appends it to local packs published as they fill; a recipe is written here only once the
file it describes assembles to its digest. A kill at any point loses at most the packs in flight:
the next run finds what each side already has and moves only the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from modelreg.base.fs import open_regular
from modelreg.errors import IntegrityError, NotFoundError

from .assemble import file_digest, plan_runs
from .format import PACK_CAP, ChunkRef, PackIndex, Recipe, chunk_id, decode_recipe, encode_index, recipe_limit
from .remote_index import RemoteIndex, idx_key, pack_key, recipe_key
from .store import ChunkStore

if TYPE_CHECKING:
    from .objects import ObjectStore

Progress = Callable[[int], None]
FileRef = tuple[str, int]  # (digest, size)
_COALESCE_GAP = 1 << 20  # a request costs about as much as a MiB of transfer: read across smaller gaps


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
    """Run ``jobs`` on ``threads`` threads; the first failure cancels what has not started."""
    if not jobs:
        return
    if threads <= 1 or len(jobs) == 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        futures: list[Future[None]] = [pool.submit(job) for job in jobs]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        for future in done:
            error = future.exception()
            if error is not None:
                for other in futures:
                    other.cancel()
                raise error


# -- push ---------------------------------------------------------------------------------------


def push_files(
    store: ChunkStore,
    objects: ObjectStore,
    rindex: RemoteIndex,
    files: list[FileRef],
    jobs: int,
    progress: Progress | None,
) -> Moved:
    moved = Moved()
    rindex.load(jobs)
    remote_recipes = objects.list("recipes/")
    local = store.index()
    need: dict[bytes, int] = {}
    recipes: list[Recipe] = []
    for digest, size in files:
        recipe = store.recipe(digest, size)
        lacking = [(cid, n) for cid, n in recipe.chunks if cid not in rindex]
        if not lacking and recipe_key(digest) in remote_recipes:
            moved.present.append(digest)
            continue
        recipes.append(recipe)
        for cid, n in lacking:
            need.setdefault(cid, n)
    counter = _Counter(progress)
    work: list[Callable[[], None]] = []
    seen: set[str] = set()
    for cid in list(need):  # in file order, so that an interrupted push has sent the start
        where = local.locate(cid)
        if where is None or where[0] in seen:
            continue
        seen.add(where[0])
        pack = local.packs[where[0]]
        if all(c in need for c, _ in pack.chunks):
            work.append(partial(_send_local_pack, store, objects, pack, counter))
            for c, _ in pack.chunks:
                need.pop(c, None)
    batch: list[ChunkRef] = []
    batch_size = 0
    for cid, n in need.items():
        if local.locate(cid) is None:
            raise NotFoundError(
                f"a chunk ({cid.hex()[:16]}…) of a file being pushed is not in the local store: "
                "'modelreg pull' or 'modelreg verify' first",
                code="blob_missing",
            )
        if batch and batch_size + n > PACK_CAP:
            work.append(partial(_send_new_pack, store, objects, batch, counter))
            batch, batch_size = [], 0
        batch.append((cid, n))
        batch_size += n
    if batch:
        work.append(partial(_send_new_pack, store, objects, batch, counter))
    run_jobs(work, jobs)
    # Recipes last: a recipe on the remote means every chunk it lists is there.
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


def _send_local_pack(store: ChunkStore, objects: ObjectStore, pack: PackIndex, counter: _Counter) -> None:
    import os

    fd = open_regular(store.packs_dir / f"{pack.name}.pack")
    try:
        data = os.pread(fd, pack.pack_size + 1, 0)
    finally:
        os.close(fd)
    view = memoryview(data)
    if len(data) != pack.pack_size:
        raise _not_pushed(f"pack {pack.name}")
    for cid, offset, length in pack.offsets():
        if chunk_id(view[offset : offset + length]) != cid:
            raise _not_pushed(f"chunk {cid.hex()} of pack {pack.name}")
    name, idx = encode_index(list(pack.chunks))
    objects.write(pack_key(name), data)
    objects.write(idx_key(name), idx)
    counter.add(len(data), 1)


def _send_new_pack(store: ChunkStore, objects: ObjectStore, batch: list[ChunkRef], counter: _Counter) -> None:
    local = store.index()
    parts = []
    places = [local.locate(cid) for cid, _ in batch]
    for (cid, n), piece in zip(batch, store.read_chunks([p for p in places if p is not None]), strict=True):
        data = bytes(piece)
        if len(data) != n or chunk_id(data) != cid:
            raise _not_pushed(f"chunk {cid.hex()}")
        parts.append(data)
    body = b"".join(parts)
    name, idx = encode_index(batch)
    objects.write(pack_key(name), body)
    objects.write(idx_key(name), idx)
    counter.add(len(body), 1)


# -- pull ---------------------------------------------------------------------------------------


def remote_recipe(objects: ObjectStore, digest: str, size: int) -> Recipe | None:
    data = objects.read(recipe_key(digest), recipe_limit(size))
    return None if data is None else decode_recipe(data, digest, size)


def pull_files(
    store: ChunkStore,
    objects: ObjectStore,
    rindex: RemoteIndex,
    files: list[FileRef],
    jobs: int,
    progress: Progress | None,
) -> Moved:
    moved = Moved()
    recipes: list[Recipe] = []
    for digest, size in files:
        recipe = remote_recipe(objects, digest, size)
        if recipe is None:
            moved.absent.append(digest)
        else:
            recipes.append(recipe)
    local = store.index()
    need: dict[bytes, int] = {}
    for recipe in recipes:
        for cid, n in recipe.chunks:
            where = local.locate(cid)
            if where is None or where[2] != n:
                need.setdefault(cid, n)
    counter = _Counter(progress)
    if need:
        rindex.load(jobs)
        _fetch_chunks(store, objects, rindex, need, jobs, counter)
    for recipe in recipes:
        bad = _publish_pulled(store, objects, recipe)
        if bad:  # chunks here went bad: set them aside, fetch good copies, try once more
            store.drop_chunks(bad)
            if not rindex.packs:
                rindex.load(jobs)
            _fetch_chunks(store, objects, rindex, {cid: n for cid, n in recipe.chunks if cid in bad}, jobs, counter)
            if _publish_pulled(store, objects, recipe):
                raise IntegrityError(f"blob {recipe.digest}: its chunks keep failing their ids here; check the disk")
        moved.files.append(recipe.digest)
    moved.bytes, moved.packs = counter.bytes, counter.packs
    return moved


def _fetch_chunks(
    store: ChunkStore, objects: ObjectStore, rindex: RemoteIndex, need: dict[bytes, int], jobs: int, counter: _Counter
) -> None:
    by_pack: dict[str, list[tuple[bytes, int, int]]] = {}
    absent = 0
    for cid, n in need.items():
        where = rindex.where.get(cid)
        if where is None or where[2] != n:
            absent += 1
            continue
        by_pack.setdefault(where[0], []).append((cid, where[1], n))
    if absent:
        raise NotFoundError(
            f"{absent} chunks of the files asked for are not on the remote {objects.url}: "
            "'modelreg push' from a machine that has them",
            code="blob_missing",
        )
    writer = store.writer()
    corrupt: dict[str, str] = {}
    lock = threading.Lock()

    def fetch(name: str, wanted: list[tuple[bytes, int, int]]) -> None:
        wanted.sort(key=lambda w: w[1])
        pack_size = rindex.packs[name].pack_size
        if sum(n for _, _, n in wanted) * 2 >= pack_size:
            spans = [(0, pack_size)]
        else:
            spans = []
            for _, offset, n in wanted:
                if spans and offset - spans[-1][1] < _COALESCE_GAP:
                    spans[-1] = (spans[-1][0], max(spans[-1][1], offset + n))
                else:
                    spans.append((offset, offset + n))
        i = 0
        for start, end in spans:
            data = objects.read_range(pack_key(name), start, end)
            view = memoryview(data)
            good: list[ChunkRef] = []
            pieces = []
            while i < len(wanted) and wanted[i][1] + wanted[i][2] <= end:
                cid, offset, n = wanted[i]
                piece = view[offset - start : offset - start + n]
                if chunk_id(piece) == cid:
                    good.append((cid, n))
                    pieces.append(piece)
                else:
                    with lock:
                        corrupt.setdefault(name, cid.hex())
                i += 1
            for ref, piece in zip(good, pieces, strict=True):
                writer.add([ref], piece)
            counter.add(end - start, 1 if (start, end) == (0, pack_size) else 0)

    try:
        run_jobs([partial(fetch, name, wanted) for name, wanted in by_pack.items()], jobs)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    if corrupt:
        places = []
        for name in sorted(corrupt):
            objects.quarantine(idx_key(name))
            places.append(objects.quarantine(pack_key(name)) or pack_key(name))
        raise IntegrityError(
            f"{len(corrupt)} packs on the remote {objects.url} hold chunks that do not match their ids "
            f"(first: chunk {next(iter(corrupt.values()))[:16]}…): quarantined as {', '.join(places)}; the good "
            "chunks fetched are kept, and a 'modelreg push' from a machine with a good copy repairs the remote",
            code="digest_mismatch",
        )


def _publish_pulled(store: ChunkStore, objects: ObjectStore, recipe: Recipe) -> set[bytes]:
    """Write a pulled recipe once the file it describes assembles to its digest; else the local
    chunks that proved bad (or, when they are all sound, the remote's recipe is corrupt)."""
    index = store.index()
    runs, missing = plan_runs(index, recipe)
    if missing:
        raise NotFoundError(f"blob {recipe.digest} still lacks {len(missing)} chunks; run the pull again")
    if file_digest(index, runs) == recipe.digest:
        store.write_recipe(recipe)
        return set()
    from .assemble import bad_chunks

    bad = set(bad_chunks(index, recipe))
    if bad:
        return bad
    place = objects.quarantine(recipe_key(recipe.digest))
    raise IntegrityError(
        f"the recipe of {recipe.digest} on the remote {objects.url} does not assemble the file (its chunks are "
        f"sound): quarantined as {place}; a 'modelreg push' from a machine with a good copy repairs the remote",
        code="digest_mismatch",
    )
