"""pull of chunked files: only the chunks this store lacks, several packs at a time, verified twice.

Each chunk is checked against its id as it arrives and appended to local packs, which are
published as they fill (a killed pull keeps them, and the next run fetches only the rest). Each
file is checked against its digest while the transfer runs: a verifier thread hashes the files in
order, taking each chunk from what was just fetched or from the local packs, so that the check
costs no extra pass at the end. If chunks arrive too far out of order for that (more than
``_STREAM_CAP`` bytes waiting), the files are hashed from the store afterwards instead. A recipe
is written here only once its file hashes to its digest.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from modelreg.errors import IntegrityError, NotFoundError

from .assemble import PackFiles, bad_chunks, file_digest, plan_runs
from .format import ChunkRef, Recipe, chunk_id, decode_recipe, recipe_limit
from .index import ChunkIndex
from .remote_index import RemoteIndex, idx_key, pack_key, recipe_key
from .store import ChunkStore
from .sync import FileRef, Moved, Progress, _Counter, run_jobs

if TYPE_CHECKING:
    from .objects import ObjectStore

_COALESCE_GAP = 1 << 20  # a request costs about as much as a MiB of transfer: read across smaller gaps
_STREAM_CAP = 1 << 30


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
    on_plan: Callable[[int], None] | None = None,
) -> Moved:
    """Fetch what ``files`` lack here, verified; ``on_plan`` hears the bytes that will move (the
    ranges of packs fetched, and the files the remote keeps whole) before the first does."""
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
    verifier = _Verifier(local, recipes, set(need))
    whole = sum(size for digest, size in files if digest in set(moved.absent))  # fetched whole afterwards
    if need:
        rindex.load(jobs)
        verifier.start()
        try:
            _fetch_chunks(store, objects, rindex, need, jobs, counter, verifier, on_plan, whole)
        finally:
            verifier.fetched_all()
    else:
        if on_plan is not None:
            on_plan(whole)
        verifier.run()
    for recipe in recipes:
        bad = _publish_pulled(store, objects, recipe, verifier.digests.get(recipe.digest))
        if bad:  # chunks here went bad: set them aside, fetch good copies, try once more
            store.drop_chunks(bad)
            if not rindex.packs:
                rindex.load(jobs)
            again = {cid: n for cid, n in recipe.chunks if cid in bad}
            _fetch_chunks(store, objects, rindex, again, jobs, counter, None)
            if _publish_pulled(store, objects, recipe, None):
                raise IntegrityError(f"blob {recipe.digest}: its chunks keep failing their ids here; check the disk")
        moved.files.append(recipe.digest)
    moved.bytes, moved.packs = counter.bytes, counter.packs
    return moved


class _Verifier(threading.Thread):
    """Hashes the recipes in order while their chunks arrive (``offer``); gives up, harmlessly,
    when too many bytes wait or a chunk never comes."""

    def __init__(self, local: ChunkIndex, recipes: list[Recipe], fetched: set[bytes]) -> None:
        super().__init__(name="modelreg-verify", daemon=True)
        self.local = local
        self.recipes = recipes
        self.digests: dict[str, str] = {}
        self._cond = threading.Condition()
        self._pieces: dict[bytes, memoryview] = {}
        self._uses = Counter(cid for r in recipes for cid, _ in r.chunks if cid in fetched)
        self._fetched = fetched
        self._waiting = 0
        self._done = False
        self._gave_up = False

    def offer(self, cid: bytes, piece: memoryview) -> None:
        with self._cond:
            if self._gave_up or cid in self._pieces or not self._uses[cid]:
                return
            self._pieces[cid] = piece
            self._waiting += len(piece)
            if self._waiting > _STREAM_CAP:
                self._give_up()
            self._cond.notify_all()

    def fetched_all(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()
        if self.is_alive():
            self.join()

    def _give_up(self) -> None:
        self._gave_up = True
        self._pieces.clear()
        self._waiting = 0

    def _take(self, cid: bytes) -> memoryview | None:
        with self._cond:
            while cid not in self._pieces and not self._gave_up and not self._done:
                self._cond.wait()
            piece = self._pieces.get(cid)
            if piece is None:
                self._give_up()  # never came (a corrupt chunk, a failed fetch): check from the store
                return None
            self._uses[cid] -= 1
            if not self._uses[cid]:
                del self._pieces[cid]
                self._waiting -= len(piece)
            return piece

    def run(self) -> None:
        files = PackFiles(self.local)
        try:
            for recipe in self.recipes:
                sha = hashlib.sha256()
                for cid, n in recipe.chunks:
                    if cid in self._fetched:
                        piece = self._take(cid)
                        if piece is None:
                            return
                        sha.update(piece)
                    else:
                        where = self.local.locate(cid)
                        if where is None:
                            return
                        sha.update(os.pread(files.fd(where[0]), n, where[1]))
                self.digests[recipe.digest] = "sha256:" + sha.hexdigest()
        except (OSError, IntegrityError):
            return  # the files are checked from the store afterwards
        finally:
            files.close()
            with self._cond:
                self._give_up()


def _fetch_chunks(
    store: ChunkStore,
    objects: ObjectStore,
    rindex: RemoteIndex,
    need: dict[bytes, int],
    jobs: int,
    counter: _Counter,
    verifier: _Verifier | None,
    on_plan: Callable[[int], None] | None = None,
    besides: int = 0,
) -> None:
    by_pack: dict[str, list[tuple[bytes, int, int]]] = {}
    absent = 0
    for cid, n in need.items():  # in file order: packs are fetched in the order the verifier reads them
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
    spans_of = {name: _spans(wanted, rindex.packs[name].pack_size) for name, wanted in by_pack.items()}
    if on_plan is not None:
        on_plan(besides + sum(end - start for spans in spans_of.values() for start, end in spans))
    writer = store.writer()
    corrupt: dict[str, str] = {}
    lock = threading.Lock()

    def fetch(name: str, wanted: list[tuple[bytes, int, int]]) -> None:
        pack_size = rindex.packs[name].pack_size
        spans = spans_of[name]
        i = 0
        for start, end in spans:
            view = memoryview(objects.read_range(pack_key(name), start, end))
            good: list[tuple[ChunkRef, memoryview]] = []
            while i < len(wanted) and wanted[i][1] + wanted[i][2] <= end:
                cid, offset, n = wanted[i]
                piece = view[offset - start : offset - start + n]
                if chunk_id(piece) == cid:
                    good.append(((cid, n), piece))
                else:
                    with lock:
                        corrupt.setdefault(name, cid.hex())
                i += 1
            for ref, piece in good:
                writer.add([ref], piece)
                if verifier is not None:
                    verifier.offer(ref[0], piece)
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


def _spans(wanted: list[tuple[bytes, int, int]], pack_size: int) -> list[tuple[int, int]]:
    """The byte ranges of a pack to read for ``wanted`` (sorted here by offset): the whole pack
    when they are half of it or more, else their ranges with small gaps bridged."""
    wanted.sort(key=lambda w: w[1])
    if sum(n for _, _, n in wanted) * 2 >= pack_size:
        return [(0, pack_size)]
    spans: list[tuple[int, int]] = []
    for _, offset, n in wanted:
        if spans and offset - spans[-1][1] < _COALESCE_GAP:
            spans[-1] = (spans[-1][0], max(spans[-1][1], offset + n))
        else:
            spans.append((offset, offset + n))
    return spans


def _publish_pulled(store: ChunkStore, objects: ObjectStore, recipe: Recipe, streamed: str | None) -> set[bytes]:
    """Write a pulled recipe once the file it describes hashes to its digest (``streamed``: the
    verifier's answer, else the file is hashed from the store); else the local chunks that
    proved bad (or, when they are all sound, the remote's recipe is corrupt)."""
    index = store.index()
    runs, missing = plan_runs(index, recipe)
    if missing:
        raise NotFoundError(f"blob {recipe.digest} still lacks {len(missing)} chunks; run the pull again")
    if (streamed or file_digest(index, runs)) == recipe.digest:
        store.write_recipe(recipe)
        return set()
    bad = set(bad_chunks(index, recipe))
    if bad:
        return bad
    place = objects.quarantine(recipe_key(recipe.digest))
    raise IntegrityError(
        f"the recipe of {recipe.digest} on the remote {objects.url} does not assemble the file (its chunks are "
        f"sound): quarantined as {place}; a 'modelreg push' from a machine with a good copy repairs the remote",
        code="digest_mismatch",
    )
