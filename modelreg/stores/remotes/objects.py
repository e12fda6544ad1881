"""The remote as the chunk store sees it: packs, their indexes and recipes, on any backend.

Keys are ``packs/<name>.pack``, ``packs/<name>.idx`` and ``recipes/<hex>``, each named by its
content, so two writers of one key write the same bytes and a write needs no lock. A key that is
not one of those (a hostile listing, a crafted index) is refused before any backend sees it;
reads never return more than the caller's bound, and the caller checks every byte against its
name. A transient failure of the store is tried again (``backend.Retrying``). The interface is
``modelreg.stores.chunks.objects.ObjectStore``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from modelreg.base.fs import aside_name
from modelreg.errors import IntegrityError

from .backend import Backend, Retrying
from .base import QUARANTINE, RemoteStore
from .blob_remote import BlobRemote

_KEY_RE = re.compile(r"(packs/[0-9a-f]{64}\.(pack|idx)|(recipes|locators)/[0-9a-f]{64})")


def check_key(key: str) -> str:
    if not _KEY_RE.fullmatch(key):
        raise IntegrityError(f"not an object key of a chunk store: {key!r}", code="invalid_digest")
    return key


def quarantine_name(key: str) -> str:
    return f"{QUARANTINE}/{aside_name(key.replace('/', '.'))}"


class ChunkObjects:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url

    def list(self, prefix: str) -> dict[str, int]:
        return self.backend.list(prefix)

    def read(self, key: str, limit: int) -> bytes | None:
        return self.backend.read(check_key(key), limit)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return self.backend.read_range(check_key(key), start, end)

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        return self.backend.read_range_view(check_key(key), start, end)

    def write(self, key: str, data: bytes) -> None:
        self.backend.write(check_key(key), data)

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        self.backend.write_parts(check_key(key), size, parts)

    def quarantine(self, key: str) -> str | None:
        """Move an object found corrupt to ``quarantine/`` (kept); where it went, or None if gone."""
        return self.backend.move_aside(check_key(key), quarantine_name(key), None)


def open_objects(remote: RemoteStore) -> ChunkObjects:
    if not isinstance(remote, BlobRemote):
        raise TypeError(f"no object access for {remote!r}")
    return ChunkObjects(Retrying(remote.backend))
