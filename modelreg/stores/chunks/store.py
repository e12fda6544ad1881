"""The chunk store of one registry: ``blobs/chunks/packs/`` and ``blobs/chunks/recipes/``.

A chunked file exists in the store once its recipe does; the recipe is written last (after every
pack it needs is durable), so a recipe whose chunks are all indexed is a complete file. Callers
that write (register, pull, upgrade) hold the registry's blob lock shared, gc holds it alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from modelreg.base.fs import (
    REFUSED,
    Tree,
    atomic_write,
    fsync_dir,
    move_aside,
    open_regular,
    read_limited,
    refused,
    tmp_name,
    write_all,
)
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError

from .assemble import assemble, bad_chunks, file_digest, plan_runs, read_runs
from .format import NAME_RE, ChunkRef, PackIndex, Recipe, chunk_id, decode_recipe, recipe_limit
from .index import ChunkIndex
from .packs import PackWriter, publish_pack


class ChunkStore:
    def __init__(self, root: Path, tree: Tree) -> None:
        self.root = root
        self.tree = tree
        self.packs_dir = root / "packs"
        self.recipes_dir = root / "recipes"
        self.quarantine_dir = root.parent / "quarantine"  # beside the blobs' own: gc never removes it
        self._index: ChunkIndex | None = None

    # -- where --------------------------------------------------------------------------------

    def recipe_path(self, digest: str) -> Path:
        hexpart = digest.partition(":")[2]
        if not NAME_RE.fullmatch(hexpart):
            raise IntegrityError(f"invalid digest {digest!r}", code="corrupt_manifest")
        return self.tree.inside(self.recipes_dir / hexpart)

    def index(self) -> ChunkIndex:
        """The chunk index, refreshed from the directory (cheap when nothing changed)."""
        if self._index is None:
            self._index = ChunkIndex(self.tree.inside(self.packs_dir / "x").parent)
        self._index.refresh()
        return self._index

    def has_recipe(self, digest: str) -> bool:
        return os.path.isfile(self.recipe_path(digest)) and not os.path.islink(self.recipe_path(digest))

    def recipe(self, digest: str, size: int | None = None) -> Recipe:
        """The recipe of ``digest``; NotFoundError when there is none, IntegrityError when corrupt."""
        path = self.recipe_path(digest)
        try:
            data = read_limited(path, recipe_limit(size) if size is not None else 1 << 30)
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in {self.root}", code="blob_missing") from None
        except OverflowError:
            raise IntegrityError(f"the recipe {path} is larger than its file allows", code="corrupt_recipe") from None
        return decode_recipe(data, digest, size)

    def missing(self, recipe: Recipe) -> list[bytes]:
        index = self.index()
        return [cid for cid, n in recipe.chunks if (where := index.locate(cid)) is None or where[2] != n]

    def complete(self, digest: str, size: int) -> bool:
        """Whether the file can be assembled from this store (its recipe and every chunk are here)."""
        if not self.has_recipe(digest):
            return False
        try:
            return not self.missing(self.recipe(digest, size))
        except IntegrityError:
            return False

    # -- writing ------------------------------------------------------------------------------

    def writer(self, on_published: Callable[[PackIndex], None] | None = None) -> PackWriter:
        self.tree.inside(self.packs_dir / "x")
        return PackWriter(self.packs_dir, on_published)

    def put_fd(self, src_fd: int, size: int, progress: Progress | None = None) -> tuple[str, int, Recipe]:
        """Chunk an open file of ``size`` bytes into the store; the recipe is the caller's to write
        once it has checked that the source did not change."""
        from .ingest import ingest

        index = self.index()
        writer = self.writer()
        try:
            digest, read, refs = ingest(src_fd, size, index, writer, progress)
            writer.finish()
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, OSError) and exc.errno in REFUSED:
                raise refused(exc, self.root) from None
            raise
        return digest, read, Recipe(digest, read, tuple(refs))

    def write_recipe(self, recipe: Recipe) -> None:
        """Publish a recipe (after its chunks are durable): the file now exists in the store."""
        path = self.recipe_path(recipe.digest)
        if self.has_recipe(recipe.digest):
            try:
                if self.recipe(recipe.digest, recipe.size) == recipe:
                    os.utime(path)  # gc's grace period protects a recipe nothing references yet
                    return
            except (IntegrityError, OSError):
                pass
        atomic_write(path, recipe.encode(), mode=0o444)
        fsync_dir(self.recipes_dir)

    # -- reading ------------------------------------------------------------------------------

    def copy_out(self, digest: str, size: int, dest_fd: int, progress: Progress | None = None) -> None:
        """Assemble the file into ``dest_fd``, verified against its digest."""
        recipe = self.recipe(digest, size)
        index = self.index()
        runs, missing = plan_runs(index, recipe)
        if missing:
            raise NotFoundError(
                f"blob {digest} lacks {len(missing)} of its chunks in {self.root}; 'modelreg pull' fetches them",
                code="blob_missing",
            )
        actual = assemble(index, runs, dest_fd, progress)
        if actual != digest:
            raise self._mismatch(recipe)

    def verify(self, digest: str, size: int, progress: Progress | None = None) -> None:
        """Re-hash a chunked file; NotFound when chunks are missing, IntegrityError when bytes differ."""
        recipe = self.recipe(digest, size)
        index = self.index()
        runs, missing = plan_runs(index, recipe)
        if missing:
            raise NotFoundError(f"blob {digest} lacks {len(missing)} of its chunks", code="blob_missing")
        if file_digest(index, runs, progress) != digest:
            raise self._mismatch(recipe)

    def _mismatch(self, recipe: Recipe) -> IntegrityError:
        """The assembled bytes are wrong: name the chunks that are, or else the recipe."""
        bad = bad_chunks(self.index(), recipe)
        if bad:
            return IntegrityError(
                f"blob {recipe.digest}: {len(bad)} of its chunks in {self.root} do not match their ids "
                f"(first {bad[0].hex()})",
                code="digest_mismatch",
            )
        return IntegrityError(
            f"blob {recipe.digest}: its chunks are sound but the recipe does not assemble the file",
            code="digest_mismatch",
        )

    def iter_recipes(self) -> Iterator[tuple[str, Path]]:
        base = self.tree.inside(self.recipes_dir / "x").parent
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if NAME_RE.fullmatch(name):
                yield "sha256:" + name, base / name

    def read_chunks(self, refs: list[tuple[str, int, int]]) -> Iterator[memoryview]:
        """The bytes of (pack, offset, length) ranges in order."""
        from .assemble import Run

        return read_runs(self.index(), [Run(p, o, 0, n) for p, o, n in refs])

    # -- repair -------------------------------------------------------------------------------

    def drop_chunks(self, bad: set[bytes]) -> list[str]:
        """Rewrite every pack holding one of ``bad`` without it (the old pack and its index move to
        ``quarantine``, kept); afterwards the chunks are missing and a pull fetches them again."""
        index = self.index()
        moved: list[str] = []
        for name, pack in list(index.packs.items()):
            if not any(cid in bad for cid, _ in pack.chunks):
                continue
            self.rewrite_pack(pack, keep=lambda cid: cid not in bad)
            moved.append(self.quarantine_pack(name))
        return moved

    def rewrite_pack(self, pack: PackIndex, keep: Callable[[bytes], bool]) -> PackIndex | None:
        """A new pack holding the chunks of ``pack`` that ``keep`` accepts and whose bytes are sound."""
        entries: list[ChunkRef] = []
        tmp = tmp_name(self.packs_dir / "pack")
        src = open_regular(self.packs_dir / f"{pack.name}.pack")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            for cid, offset, length in pack.offsets():
                if not keep(cid):
                    continue
                data = os.pread(src, length, offset)
                if len(data) == length and chunk_id(data) == cid:
                    write_all(fd, data)
                    entries.append((cid, length))
            if not entries:
                return None
            os.fsync(fd)
            os.close(fd)
            fd = -1
            published = publish_pack(self.packs_dir, tmp, entries)
            fsync_dir(self.packs_dir)
            return published
        finally:
            os.close(src)
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    def quarantine_pack(self, name: str) -> str:
        """Move a pack and its index aside (index first: the pack stops existing for readers)."""
        quarantine = self.tree.inside(self.quarantine_dir / "x").parent
        quarantine.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.{os.urandom(4).hex()}"
        target = quarantine / f"{name}.{stamp}.pack"
        for suffix in (".idx", ".pack"):
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.packs_dir / f"{name}{suffix}", quarantine / f"{name}.{stamp}{suffix}")
        fsync_dir(self.packs_dir)
        fsync_dir(quarantine)
        if self._index is not None:
            self._index.drop(name)
        return str(target)

    def quarantine_recipe(self, digest: str) -> str | None:
        quarantine = self.tree.inside(self.quarantine_dir / "x").parent
        quarantine.mkdir(parents=True, exist_ok=True)
        target = move_aside(self.recipe_path(digest), quarantine, f"{digest.partition(':')[2]}.recipe")
        return None if target is None else str(target)
