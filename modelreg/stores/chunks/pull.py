"""pull of chunked files: only the chunks this store lacks, several packs at a time, verified twice.

Each chunk is checked against its id as it arrives and appended to local packs, which are
published as they fill (a killed pull keeps them, and the next run fetches only the rest). Each
file is checked against its digest while the transfer runs: a verifier thread hashes the files in
order, taking each chunk from what was just fetched or from the local packs, so that the check
costs no extra pass at the end. When more than ``--jobs`` / 4 x ``SPAN`` bytes wait for it (the
verifier is behind), the fetches wait for it rather than run ahead; only when chunks arrive too
far out of order for that (every fetch waiting on the verifier, and it on them) are the files
hashed from the store afterwards instead. Memory is bounded by ``--jobs``, never by the size of
a pack or a file: a read is at most ``SPAN`` bytes, and what waits for the verifier is capped as
above (plus one read). A recipe
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

from modelreg.base.parallel import start_thread
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError

from .assemble import PackFiles, bad_chunks, file_digest, plan_runs
from .format import ChunkRef, Recipe, chunk_id, decode_recipe, recipe_limit
from .index import ChunkIndex
from .remote_index import RemoteIndex, idx_key, pack_key, recipe_key
from .store import ChunkStore
from .sync import FileRef, Moved, _Counter, run_jobs

if TYPE_CHECKING:
    from .objects import ObjectStore

_COALESCE_GAP = 1 << 20  # a request costs about as much as a MiB of transfer: read across smaller gaps
SPAN = 3 << 20  # the most one ranged read holds: a pull holds about --jobs x 1.25 x SPAN of chunk bytes


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
    verifier = _Verifier(local, recipes, set(need), max(2, jobs // 4) * SPAN)
    whole = sum(size for digest, size in files if digest in set(moved.absent))  # fetched whole afterwards
    if need:
        rindex.locate(need, [(r.digest, r.size) for r in recipes], jobs)
        start_thread(verifier)
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
            again = {cid: n for cid, n in recipe.chunks if cid in bad}
            rindex.locate(again, [(recipe.digest, recipe.size)], jobs)
            _fetch_chunks(store, objects, rindex, again, jobs, counter, None)
            if _publish_pulled(store, objects, recipe, None):
                raise IntegrityError(f"blob {recipe.digest}: its chunks keep failing their ids here; check the disk")
        moved.files.append(recipe.digest)
    moved.bytes, moved.packs = counter.bytes, counter.packs
    return moved


class _Verifier(threading.Thread):
    """Hashes the recipes in order while their chunks arrive (``offer``). The fetches wait while
    more than ``cap`` bytes wait for it (it is behind, say on a busy machine), unless they bring
    the chunk it waits for; it gives up, harmlessly (the files are hashed from the store
    afterwards), when a chunk never comes or every running fetch waits on it. A waiting chunk is
    a view of the read it came in (no copy): what waits is counted as the whole reads it keeps
    alive."""

    def __init__(self, local: ChunkIndex, recipes: list[Recipe], fetched: set[bytes], cap: int) -> None:
        super().__init__(name="modelreg-verify", daemon=True)
        self.local = local
        self.recipes = recipes
        self.digests: dict[str, str] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # the verifier waits on it: a chunk came, or news
        self._room = threading.Condition(self._lock)  # held fetches wait on it: room, or a new wanted chunk
        self._pieces: dict[bytes, tuple[memoryview, list[int]]] = {}  # id -> (bytes, [its read's pieces left, size])
        self._cap = cap
        self._uses = Counter(cid for r in recipes for cid, _ in r.chunks if cid in fetched)
        self._fetched = fetched
        self._waiting = 0
        self._wanted: bytes | None = None  # the chunk the verifier waits for
        self._threads = 1  # fetches at once
        self._unfinished = 0  # fetches not yet over (running or queued)
        self._held: list[set[bytes]] = []  # the chunks of each fetch waiting for room in offer
        self._done = False
        self._gave_up = False

    def expect(self, fetches: int, threads: int) -> None:
        """``fetches`` reads will come, ``threads`` at a time."""
        with self._lock:
            self._unfinished, self._threads = fetches, max(1, min(threads, fetches))

    def fetched_one(self) -> None:
        with self._lock:
            self._unfinished -= 1
            self._arrived.notify()

    def offer(self, pieces: list[tuple[bytes, memoryview]], size: int) -> None:
        """The chunks the verifier will want from one read of ``size`` bytes, views of its buffer."""
        with self._lock:
            pieces = [
                (cid, piece) for cid, piece in dict(pieces).items() if self._uses[cid] and cid not in self._pieces
            ]
            if not pieces:
                return
            ids = {cid for cid, _ in pieces}
            while not self._gave_up and self._waiting and self._waiting + size > self._cap:
                if self._wanted in ids:
                    break  # what the verifier waits for always gets in (at most one read over the cap)
                self._held.append(ids)
                self._arrived.notify()  # the verifier looks again: is every fetch waiting on it?
                try:
                    self._room.wait()
                finally:
                    self._held.remove(ids)
            if self._gave_up:
                return
            once = [(cid, piece) for cid, piece in pieces if self._uses[cid] == 1]
            if once:
                read = [len(once), size]
                for cid, piece in once:
                    self._pieces[cid] = (piece, read)
                self._waiting += size
            for cid, piece in pieces:
                if self._uses[cid] > 1:  # wanted again later on: a copy, so the read's buffer can go
                    self._pieces[cid] = (memoryview(bytes(piece)), [1, len(piece)])
                    self._waiting += len(piece)
            self._arrived.notify()

    def fetched_all(self) -> None:
        with self._lock:
            self._done = True
            self._arrived.notify()
        if self.is_alive():
            self.join()

    def _give_up(self) -> None:
        self._gave_up = True
        self._pieces.clear()
        self._waiting = 0
        self._arrived.notify()
        self._room.notify_all()

    def _take(self, cid: bytes) -> memoryview | None:
        with self._lock:
            if cid not in self._pieces:
                self._wanted = cid
                if self._held:
                    self._room.notify_all()  # a held fetch may bring it
                while cid not in self._pieces and not self._gave_up and not self._done:
                    stuck = len(self._held) >= min(self._threads, self._unfinished)
                    if self._held and stuck and not any(cid in ids for ids in self._held):
                        self._give_up()  # every fetch waits on the verifier, and none brings what it waits for
                        break
                    self._arrived.wait()
                self._wanted = None
            found = self._pieces.get(cid)
            if found is None:
                self._give_up()  # never came (a corrupt chunk, a failed fetch): check from the store
                return None
            piece, read = found
            self._uses[cid] -= 1
            if not self._uses[cid]:
                del self._pieces[cid]
                read[0] -= 1
                if not read[0]:  # the last piece of that read: its buffer goes once this one is hashed
                    self._waiting -= read[1]
                    if self._held:
                        self._room.notify_all()
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
            with self._lock:
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
    writer = store.writer()
    corrupt: dict[str, str] = {}
    lock = threading.Lock()

    def fetch(name: str, start: int, end: int, wanted: list[tuple[bytes, int, int]], whole: bool) -> None:
        try:
            fetch_span(name, start, end, wanted, whole)
        finally:
            if verifier is not None:
                verifier.fetched_one()

    def fetch_span(name: str, start: int, end: int, wanted: list[tuple[bytes, int, int]], whole: bool) -> None:
        # The read's own buffer (an S3 client's, else a mapping of its own), freed once the writer
        # and the verifier are done with it.
        view = objects.read_range_view(pack_key(name), start, end)
        good: list[tuple[ChunkRef, memoryview]] = []
        run: list[ChunkRef] = []  # good chunks back to back in the read: one hand-over to the writer
        run_start = run_end = 0
        for cid, offset, n in wanted:
            at = offset - start
            piece = view[at : at + n]
            if chunk_id(piece) != cid:
                with lock:
                    corrupt.setdefault(name, cid.hex())
                continue
            good.append(((cid, n), piece))
            if run and at != run_end:
                writer.add(run, view[run_start:run_end])
                run = []
            if not run:
                run_start = run_end = at
            run.append((cid, n))
            run_end += n
        if run:
            writer.add(run, view[run_start:run_end])
        if verifier is not None:
            verifier.offer([(ref[0], piece) for ref, piece in good], end - start)
        counter.add(end - start, 1 if whole else 0)

    work: list[Callable[[], None]] = []
    planned = 0
    for name, wanted in by_pack.items():
        wanted.sort(key=lambda w: w[1])
        pack_size = rindex.packs[name].pack_size
        whole = sum(n for _, _, n in wanted) * 2 >= pack_size  # read across every gap: fewer requests
        for i, (start, end, part) in enumerate(_spans(wanted, pack_size if whole else _COALESCE_GAP)):
            work.append(partial(fetch, name, start, end, part, whole and i == 0))
            planned += end - start
    if on_plan is not None:  # before the first byte moves: the progress bar's true total
        on_plan(besides + planned)
    if verifier is not None:
        verifier.expect(len(work), jobs)
    try:
        run_jobs(work, jobs)
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


def _spans(wanted: list[tuple[bytes, int, int]], gap: int) -> list[tuple[int, int, list[tuple[bytes, int, int]]]]:
    """Ranged reads of one pack covering ``wanted`` (sorted by offset): runs of chunks less than
    ``gap`` apart, each at most SPAN bytes (unless one chunk is longer), so that a read holds a
    fixed buffer whatever the size of the pack or the file."""
    spans: list[tuple[int, int, list[tuple[bytes, int, int]]]] = []
    for cid, offset, n in wanted:
        if spans:
            start, end, part = spans[-1]
            if offset - end < gap and max(end, offset + n) - start <= SPAN:
                part.append((cid, offset, n))
                spans[-1] = (start, max(end, offset + n), part)
                continue
        spans.append((offset, offset + n, [(cid, offset, n)]))
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
