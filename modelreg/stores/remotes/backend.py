"""One interface for every remote backend: named objects under a root (a directory, an S3 prefix).

Everything modelreg keeps on a remote is an object named by a key relative to the root: blobs
(``sha256/ab/<hex>``), packs and their indexes (``packs/``), recipes (``recipes/``), copies set
aside (``quarantine/``). A backend only stores, lists, reads and moves objects. What objects mean
is written once above it, for every backend alike: content-addressed blobs and their quarantine
(``blob_remote.BlobRemote``), the chunk store's packs and recipes (``objects.ChunkObjects``).
What every backend needs in the same way wraps it: ``Retrying`` tries a transient failure again.

Two writes are conditional, for writers that coordinate through the store (docs/reference/claims.md):
``create`` stores an object only where there is none (put-if-absent), ``swap`` replaces an object
only if it is still the one a ``read_tagged`` saw (compare-and-swap). Exactly one of several
writers racing for one key wins; a store that lets two win is refused by ``remote check``.

Nothing a backend reads is trusted: every read takes a bound and never returns more, and an
object that is not a plain object (a FIFO, a device or a link in a directory) is never read.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError

R = TypeVar("R")

# A key is a relative path of plain names: never absolute, never '.', '..' or a name that starts
# with a dot (a directory backend's temporary files do), so no key can leave the root.
_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or len(key) > 512:
        raise IntegrityError(f"not a valid object key on a remote: {key!r}", code="invalid_digest")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    tag: str | None  # names this very object (a directory's device:inode, an S3 ETag); None: unknown
    kind: str | None = None  # None: a plain object; else what it is instead ("a FIFO", "a symbolic link")


SWAP_LIMIT = 1 << 20  # objects that writers swap are small records, never more than this


@dataclass(frozen=True)
class Tagged:
    """An object's bytes with the tag that ``swap`` compares against."""

    data: bytes
    tag: str


class Backend(ABC):
    """Objects under one root. Errors are modelreg's: RemoteError for a failure of the store,
    StorageError for a full one, NotFoundError for a missing root, IntegrityError for an object
    that cannot be what it claims."""

    url: str
    lookup_threads: int = 1  # stat calls worth running at once (a network store: several)
    list_shard_at: int | None = None  # list a shard rather than stat this many of its keys (None: never)

    @abstractmethod
    def require_root(self) -> None:
        """Refuse a root that is not there (a typo in the url must not start a second store)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """What is under ``key``, or None when nothing is."""

    @abstractmethod
    def list(self, prefix: str) -> dict[str, int]:
        """Every plain object whose key starts with ``prefix`` (a folder ending in '/'): key -> size."""

    @abstractmethod
    def read(self, key: str, limit: int) -> bytes | None:
        """The whole object, or None when there is none; IntegrityError if it is over ``limit`` bytes."""

    @abstractmethod
    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive): exactly that many, or an error."""

    def read_range_into(self, key: str, start: int, buf: memoryview) -> None:
        """Fill ``buf`` with the bytes of the object from ``start``: exactly ``len(buf)`` or an error.
        For a caller that keeps its own buffers; this default reads, then copies."""
        buf[:] = self.read_range(key, start, start + len(buf))

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        """Bytes ``start`` to ``end`` (exclusive) in a buffer of the backend's choosing, released
        with the last view of it: exactly that many, or an error. This default reads into a
        mapping of its own, unmapped as soon as it is released (heap buffers of this size, freed
        by other threads, linger in the allocator). Private: a shared anonymous mapping is backed
        by shmem, whose page faults cost a pull a third more system time."""
        import mmap

        view = memoryview(mmap.mmap(-1, end - start, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))
        self.read_range_into(key, start, view)
        return view

    @abstractmethod
    def get_file(self, key: str, dest: Path, info: ObjectInfo, progress: Progress | None = None) -> None:
        """Write the object that ``stat`` described to the new file ``dest``: never more than
        ``info.size`` bytes, never another object that replaced it since; flushed to disk."""

    @abstractmethod
    def put_file(self, key: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        """Store the ``size`` bytes of ``src`` under ``key``, atomically for readers; False when an
        object appeared under that key meanwhile (content-named keys: the same bytes)."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (readers see no object or the whole one)."""

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        """Store the ``size`` bytes that ``parts()`` yields, in order, under ``key``, atomically, holding
        about one part at a time; an error from ``parts`` leaves nothing behind. A part may be a view
        of a buffer that the next one reuses: it is used before the next is asked for. ``parts`` is
        called again when the write is tried again. This default holds them all."""
        data = b"".join([bytes(part) for part in parts()])
        if len(data) != size:
            raise IntegrityError(f"{len(data)} bytes were given for {key}, not {size}")
        self.write(key, data)

    @abstractmethod
    def move_aside(self, key: str, target: str, tag: str | None) -> str | None:
        """Move the object to ``target`` if it is still the one ``tag`` names (any, for None);
        where it went, for people, or None when it changed or went meanwhile."""

    @abstractmethod
    def location(self, key: str) -> str:
        """Where the object is, for people (a path, an ``s3://`` URL)."""

    @abstractmethod
    def read_tagged(self, key: str, limit: int) -> Tagged | None:
        """The whole object and its tag for ``swap``, or None; IntegrityError over ``limit`` bytes."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` only if no object is there; whether this call stored it.

        False also when an earlier attempt of the same write was applied and its answer lost:
        a writer recognises its own object by what it wrote (a nonce), never by this answer."""

    @abstractmethod
    def swap(self, key: str, data: bytes, expected_tag: str) -> bool:
        """Replace the object under ``key`` by ``data`` only if its tag is still ``expected_tag``
        (False when it changed or went; see ``create`` for a lost answer)."""

    def transient(self, exc: BaseException) -> bool:
        """Whether a failure may pass when tried again (a busy server); never a refusal."""
        return False


class Retrying(Backend):
    """A backend whose reads, listings and writes are tried again after a transient failure.

    Every key names its content (or, for a write, is written whole), so trying again is harmless.
    """

    def __init__(self, inner: Backend, attempts: int = 5, pause: float = 0.25) -> None:
        self.inner = inner
        self.url = inner.url
        self.lookup_threads = inner.lookup_threads
        self.list_shard_at = inner.list_shard_at
        self.attempts = attempts
        self.pause = pause

    def _again(self, call: Callable[[], R]) -> R:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.attempts or not self.inner.transient(exc):
                    raise
            time.sleep(self.pause * 2**attempt)
        raise AssertionError("unreachable")

    def require_root(self) -> None:
        self._again(self.inner.require_root)

    def stat(self, key: str) -> ObjectInfo | None:
        return self._again(lambda: self.inner.stat(key))

    def list(self, prefix: str) -> dict[str, int]:
        return self._again(lambda: self.inner.list(prefix))

    def read(self, key: str, limit: int) -> bytes | None:
        return self._again(lambda: self.inner.read(key, limit))

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return self._again(lambda: self.inner.read_range(key, start, end))

    def read_range_into(self, key: str, start: int, buf: memoryview) -> None:
        self._again(lambda: self.inner.read_range_into(key, start, buf))

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        return self._again(lambda: self.inner.read_range_view(key, start, end))

    def get_file(self, key: str, dest: Path, info: ObjectInfo, progress: Progress | None = None) -> None:
        self.inner.get_file(key, dest, info, progress)  # a file half written is the caller's to discard

    def put_file(self, key: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        return self.inner.put_file(key, src, size, progress)  # the transfer manager retries its parts

    def write(self, key: str, data: bytes) -> None:
        self._again(lambda: self.inner.write(key, data))

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        self._again(lambda: self.inner.write_parts(key, size, parts))

    def move_aside(self, key: str, target: str, tag: str | None) -> str | None:
        return self.inner.move_aside(key, target, tag)

    def location(self, key: str) -> str:
        return self.inner.location(key)

    def read_tagged(self, key: str, limit: int) -> Tagged | None:
        return self._again(lambda: self.inner.read_tagged(key, limit))

    # A conditional write tried again after a lost answer reports False: the caller reads the
    # object back and knows its own write by its nonce, so a retry is safe here too.
    def create(self, key: str, data: bytes) -> bool:
        return self._again(lambda: self.inner.create(key, data))

    def swap(self, key: str, data: bytes, expected_tag: str) -> bool:
        return self._again(lambda: self.inner.swap(key, data, expected_tag))

    def transient(self, exc: BaseException) -> bool:
        return self.inner.transient(exc)
