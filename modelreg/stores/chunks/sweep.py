"""The chunk store's half of gc: recipes nothing references, packs whose chunks nothing needs.

The caller holds the blob lock exclusively, so no register, pull or upgrade is between storing
chunks and recording the version that needs them. Live chunks are those of every recipe a
version references, plus those of every recipe younger than the grace period (a register that
failed and will be retried). A pack none of whose chunks is live goes (its index first, so it
stops existing for readers before its bytes do); a pack at least half dead is rewritten with its
live chunks only, the new pack published before the old one is removed, so that a reader never
misses a live chunk. Packs less dead than that stay: rewriting them would cost more than it saves.
Packs younger than the grace period, and temporary files of live writers, are never touched.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from modelreg.base.fs import fsync_dir
from modelreg.errors import IntegrityError, NotFoundError

from .format import NAME_RE
from .store import ChunkStore

REPACK_WHEN_DEAD = 0.5


@dataclass
class Swept:
    recipes_removed: list[str] = field(default_factory=list)
    packs_removed: list[str] = field(default_factory=list)
    packs_rewritten: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def sweep(store: ChunkStore, live: dict[str, int], *, grace: float, dry_run: bool) -> Swept:
    """``live``: digest -> size of every file a version references."""
    swept = Swept()
    now = time.time()
    live_chunks: set[bytes] = set()
    for digest, path in store.iter_recipes():
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        young = now - st.st_mtime < grace
        if digest in live or young:
            # A corrupt recipe keeps nothing alive; verify reports it, a pull replaces it.
            with contextlib.suppress(IntegrityError, NotFoundError):
                live_chunks.update(cid for cid, _ in store.recipe(digest, live.get(digest)).chunks)
            continue
        swept.recipes_removed.append(digest)
        swept.bytes_freed += st.st_size
        if not dry_run:
            path.unlink(missing_ok=True)
    if not dry_run and swept.recipes_removed:
        fsync_dir(store.recipes_dir)
    index = store.index()
    for name, pack in sorted(index.packs.items()):
        try:
            st = os.lstat(index.idx_path(name))
        except FileNotFoundError:
            continue
        if now - st.st_mtime < grace:
            continue
        live_bytes = sum(n for cid, n in pack.chunks if cid in live_chunks)
        if live_bytes == 0:
            swept.packs_removed.append(name)
            swept.bytes_freed += pack.pack_size + st.st_size
            if not dry_run:
                _remove_pack(store, name)
        elif live_bytes <= pack.pack_size * (1 - REPACK_WHEN_DEAD):
            swept.packs_rewritten.append(name)
            swept.bytes_freed += pack.pack_size - live_bytes
            if not dry_run:
                store.rewrite_pack(pack, keep=live_chunks.__contains__)
                _remove_pack(store, name)
    _orphans(store, swept, now, grace, dry_run)
    return swept


def _remove_pack(store: ChunkStore, name: str) -> None:
    (store.packs_dir / f"{name}.idx").unlink(missing_ok=True)
    fsync_dir(store.packs_dir)
    (store.packs_dir / f"{name}.pack").unlink(missing_ok=True)


def _orphans(store: ChunkStore, swept: Swept, now: float, grace: float, dry_run: bool) -> None:
    """Packs whose index never came (a writer killed between the two), old enough to be sure."""
    try:
        entries = list(os.scandir(store.packs_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    names = {e.name for e in entries}
    for entry in entries:
        stem, dot, kind = entry.name.partition(".")
        if not (NAME_RE.fullmatch(stem) and dot and kind in ("pack", "idx")):
            continue
        other = f"{stem}.idx" if kind == "pack" else f"{stem}.pack"
        if other in names:
            continue
        with contextlib.suppress(FileNotFoundError):
            st = entry.stat(follow_symlinks=False)
            if now - st.st_mtime >= grace:
                swept.packs_removed.append(stem)
                swept.bytes_freed += st.st_size
                if not dry_run:
                    os.unlink(entry.path)
