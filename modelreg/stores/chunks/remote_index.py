"""What a remote's packs hold: its listing, and its index objects (cached here, verified).

``load`` reads every index (push needs to know all the remote holds). ``locate`` finds only the
chunks a pull needs: it reads the indexes of the packs that the files' locators name, and only
when a chunk is still not found every other index, one at a time, keeping nothing but the
matches, so a pull costs what it moves, not what the remote holds.

An index is named by its own SHA-256, so a cached copy is checked on every load and a copy
that does not match is read again from the remote; an index object on the remote that does not
hash to its name, or a pack whose size is not the one its index records, is provably corrupt
and moved to the remote's quarantine, after which its chunks count as absent (a push from a
machine with good copies uploads them again).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.base.fs import atomic_write, read_limited
from modelreg.base.parallel import run_parallel
from modelreg.errors import IntegrityError, StorageError

from .format import INDEX_LIMIT, NAME_RE, PackIndex, decode_index, decode_locator, locator_limit

if TYPE_CHECKING:
    from .objects import ObjectStore

PACKS = "packs/"
RECIPES = "recipes/"
LOCATORS = "locators/"


def pack_key(name: str) -> str:
    return f"{PACKS}{name}.pack"


def idx_key(name: str) -> str:
    return f"{PACKS}{name}.idx"


def recipe_key(digest: str) -> str:
    return RECIPES + digest.partition(":")[2]


def locator_key(digest: str) -> str:
    return LOCATORS + digest.partition(":")[2]


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
        names = self._complete(listing)
        loaded = run_parallel([partial(self._index, n, listing[idx_key(n)]) for n in sorted(names)], jobs)
        for index in loaded:
            if index is None or not self._sized(index, listing):
                continue
            self.packs[index.name] = index
            for cid, offset, length in index.offsets():
                self.where.setdefault(cid, (index.name, offset, length))

    def locate(self, need: dict[bytes, int], files: Iterable[tuple[str, int]], jobs: int) -> None:
        """Find where the remote keeps each chunk of ``need`` (id -> length), and nothing more:
        ``where`` and ``packs`` then hold only the needed chunks and the packs that have them."""
        self.packs, self.where = {}, {}
        listing = self.objects.list(PACKS)
        hinted: dict[str, None] = {}
        threads = max(1, jobs)
        for names in run_parallel([partial(self._locator, *f) for f in files], threads):
            hinted.update(dict.fromkeys(names))
        complete = self._complete(listing)
        self._scan([n for n in hinted if n in complete], listing, need, threads)
        if any(cid not in self.where for cid in need):  # no locator (an older remote), or a stale one
            rest = [n for n in sorted(complete) if n not in hinted]
            self._scan(rest, listing, need, threads)

    def _complete(self, listing: dict[str, int]) -> set[str]:
        """The packs whose pack and index objects are both listed."""
        names = set()
        for key in listing:
            name = key[len(PACKS) :].removesuffix(".idx")
            if key.endswith(".idx") and NAME_RE.fullmatch(name) and pack_key(name) in listing:
                names.add(name)
        return names

    def _locator(self, digest: str, size: int) -> list[str]:
        try:
            data = self.objects.read(locator_key(digest), locator_limit(size))
        except IntegrityError:  # over its bound: not a locator of this file
            return []
        names = decode_locator(data, digest) if data is not None else None
        return [n for n in names or [] if NAME_RE.fullmatch(n)]

    def _scan(self, names: list[str], listing: dict[str, int], need: dict[bytes, int], threads: int) -> None:
        """Read the indexes of ``names`` (a few at a time) and keep where they hold needed chunks."""
        wanted = [n for n in names if n not in self.packs]
        for start in range(0, len(wanted), threads * 4):
            batch = wanted[start : start + threads * 4]
            loaded = run_parallel([partial(self._index, n, listing[idx_key(n)]) for n in batch], threads)
            for index in loaded:
                if index is None or not self._sized(index, listing):
                    continue
                hits = [
                    (cid, offset, length)
                    for cid, offset, length in index.offsets()
                    if need.get(cid) == length and cid not in self.where
                ]
                if hits:
                    self.packs[index.name] = index
                    for cid, offset, length in hits:
                        self.where[cid] = (index.name, offset, length)
            if all(cid in self.where for cid in need):
                return

    def _sized(self, index: PackIndex, listing: dict[str, int]) -> bool:
        """Whether the pack has the size its index records; else both are quarantined."""
        if listing[pack_key(index.name)] == index.pack_size:
            return True
        place = self.objects.quarantine(pack_key(index.name))
        self.objects.quarantine(idx_key(index.name))
        self.warn(
            f"pack {index.name[:12]}… on the remote {self.objects.url} has {listing[pack_key(index.name)]} "
            f"bytes but its index records {index.pack_size}: quarantined as {place}"
        )
        return False

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
