"""What a remote's packs hold: its listing, and its index objects (cached here, verified).

An index is named by its own SHA-256, so a cached copy is checked on every load and a copy
that does not match is read again from the remote; an index object on the remote that does not
hash to its name, or a pack whose size is not the one its index records, is provably corrupt
and moved to the remote's quarantine, after which its chunks count as absent (a push from a
machine with good copies uploads them again).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.base.fs import atomic_write, read_limited
from modelreg.errors import IntegrityError, StorageError

from .format import INDEX_LIMIT, NAME_RE, PackIndex, decode_index

if TYPE_CHECKING:
    from .objects import ObjectStore

PACKS = "packs/"
RECIPES = "recipes/"


def pack_key(name: str) -> str:
    return f"{PACKS}{name}.pack"


def idx_key(name: str) -> str:
    return f"{PACKS}{name}.idx"


def recipe_key(digest: str) -> str:
    return RECIPES + digest.partition(":")[2]


def cache_dir_for(base: Path, url: str) -> Path:
    return base / hashlib.sha256(url.encode()).hexdigest()[:16]


class RemoteIndex:
    def __init__(self, objects: ObjectStore, cache: Path | None, warn: Callable[[str], None]) -> None:
        self.objects = objects
        self.cache = cache
        self.warn = warn
        self.packs: dict[str, PackIndex] = {}
        self.where: dict[bytes, tuple[str, int, int]] = {}

    def __contains__(self, cid: object) -> bool:
        return cid in self.where

    def load(self, jobs: int) -> None:
        self.packs, self.where = {}, {}
        listing = self.objects.list(PACKS)
        names = []
        for key in listing:
            name = key[len(PACKS) :].removesuffix(".idx")
            if key.endswith(".idx") and NAME_RE.fullmatch(name) and pack_key(name) in listing:
                names.append(name)
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(names) or 1))) as pool:
            loaded = list(pool.map(lambda n: self._index(n, listing[idx_key(n)]), sorted(names)))
        for index in loaded:
            if index is None:
                continue
            if listing[pack_key(index.name)] != index.pack_size:
                place = self.objects.quarantine(pack_key(index.name))
                self.objects.quarantine(idx_key(index.name))
                self.warn(
                    f"pack {index.name[:12]}… on the remote {self.objects.url} has {listing[pack_key(index.name)]} "
                    f"bytes but its index records {index.pack_size}: quarantined as {place}"
                )
                continue
            self.packs[index.name] = index
            for cid, offset, length in index.offsets():
                self.where.setdefault(cid, (index.name, offset, length))

    def _index(self, name: str, size: int) -> PackIndex | None:
        cached = self._cached(name)
        if cached is not None:
            return cached
        if size > INDEX_LIMIT:
            return None
        data = self.objects.read(idx_key(name), INDEX_LIMIT)
        if data is None:
            return None  # removed since the listing
        try:
            index = decode_index(data, name)
        except IntegrityError as exc:
            place = self.objects.quarantine(idx_key(name))
            self.warn(f"{exc.message} (on the remote {self.objects.url}): quarantined as {place}")
            return None
        if self.cache is not None:
            with contextlib.suppress(OSError, StorageError):
                atomic_write(self.cache / f"{name}.idx", data, durable=False)
        return index

    def _cached(self, name: str) -> PackIndex | None:
        if self.cache is None:
            return None
        try:
            return decode_index(read_limited(self.cache / f"{name}.idx", INDEX_LIMIT), name)
        except (OSError, OverflowError, IntegrityError):
            return None
