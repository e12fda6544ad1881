"""Content-addressed blobs on any backend: what push, pull and a fetch of one file use.

Written once for every backend (``backend.Backend``): the object for ``sha256:<hex>`` lives at
``sha256/<hex[:2]>/<hex>``. Because a key names its content, writing the same key twice writes
the same bytes, which makes uploads idempotent and safe to run in parallel without any locking.

Nothing on a remote is trusted by its name alone. An object whose size differs from the one
recorded, or that is not a plain object, is corrupt, and ``upload`` replaces it; an object whose
bytes a fetch found not to match its name is moved aside by ``quarantine`` to
``quarantine/<hex>.<time>.<random>`` (if it is still the object that was read), so that the next
push from a machine with a good copy uploads it again. No bytes are ever deleted outright.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from modelreg.base.progress import Progress
from modelreg.errors import ModelregError, NotFoundError

from .backend import Backend
from .base import (
    blob_key,
    check_source,
    found_in_quarantine,
    larger_than_recorded,
    not_a_blob,
    quarantine_key,
    quarantined_prefix,
)

_UNREAD = object()


class BlobRemote:
    """The ``RemoteStore`` of every backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url
        # digest -> tag of the object the last download read: what quarantine may move aside
        self._read: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"BlobRemote({self.backend!r})"

    def has(self, digest: str) -> bool:
        info = self.backend.stat(blob_key(digest))
        return info is not None and info.kind is None

    def missing(self, digests: Iterable[str], sizes: Mapping[str, int] | None = None) -> set[str]:
        wanted = set(digests)
        if not wanted:
            return set()
        self.backend.require_root()
        recorded = sizes or {}
        by_shard: dict[str, list[str]] = {}
        for digest in sorted(wanted):
            by_shard.setdefault(blob_key(digest)[: len("sha256/ab")], []).append(digest)
        # One listing answers for a whole shard, a stat for one digest; both give the size.
        shard_at = self.backend.list_shard_at
        jobs: list[Callable[[], set[str]]] = []
        for shard, group in by_shard.items():
            if shard_at is not None and len(group) >= shard_at:
                jobs.append(functools.partial(self._missing_by_listing, shard, group, recorded))
            else:
                jobs.extend(functools.partial(self._missing_by_stat, digest, recorded.get(digest)) for digest in group)
        # The thread pool (and the logging it imports) only here: reads that never ask pay nothing.
        from modelreg.base.parallel import run_parallel

        lacking: set[str] = set()
        for part in run_parallel(jobs, self.backend.lookup_threads):
            lacking |= part
        return lacking

    def _missing_by_stat(self, digest: str, size: int | None) -> set[str]:
        info = self.backend.stat(blob_key(digest))
        good = info is not None and info.kind is None and size in (None, info.size)
        return set() if good else {digest}

    def _missing_by_listing(self, shard: str, group: list[str], sizes: Mapping[str, int]) -> set[str]:
        present = self.backend.list(f"{shard}/")
        return {
            digest
            for digest in group
            if blob_key(digest) not in present or (digest in sizes and present[blob_key(digest)] != sizes[digest])
        }

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        """Store ``src`` as the blob ``digest``; False when a good object was already there.
        An object of another size, or not a plain object, is quarantined and replaced."""
        key = blob_key(digest)
        info = self.backend.stat(key)
        if info is not None and info.kind is None and info.size == size:
            return False
        check_source(src, size)
        if info is not None:
            self.backend.move_aside(key, quarantine_key(digest), info.tag)
        return self.backend.put_file(key, src, size, progress)

    def download(self, digest: str, dest: Path, size: int, progress: Progress | None = None) -> None:
        """Write the blob's raw bytes to ``dest``, never more than ``size`` bytes: an object larger
        than that, or one that is not a plain object, is an IntegrityError. The caller verifies."""
        key = blob_key(digest)
        info = self.backend.stat(key)
        if info is None:
            self.backend.require_root()  # a missing remote is not a missing blob
            raise self._not_here(digest)
        if info.kind is not None:
            raise not_a_blob(digest, info.kind, self.url)
        if info.size > size:
            raise larger_than_recorded(digest, self.url, info.size, size)
        self.backend.get_file(key, dest, info, progress)
        self._read[digest] = info.tag

    def quarantine(self, digest: str) -> str | None:
        """Move the object that the last ``download`` of ``digest`` read to ``quarantine/``;
        where it went, or None when the object changed (or went) since it was read."""
        tag = self._read.pop(digest, _UNREAD)
        if tag is _UNREAD:
            return None
        return self.backend.move_aside(blob_key(digest), quarantine_key(digest), tag if isinstance(tag, str) else None)

    def _not_here(self, digest: str) -> ModelregError:
        """Not on the remote: say so, or that an earlier fetch quarantined its corrupt copy."""
        try:
            keys = sorted(self.backend.list(quarantined_prefix(digest)))
        except ModelregError:
            keys = []
        if keys:
            return found_in_quarantine(digest, self.url, self.backend.location(keys[-1]))
        return NotFoundError(f"blob {digest} is not on the remote {self.url}", code="blob_missing")
