"""What the chunk store needs of a remote: named objects (stores/remotes/objects.py opens them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol


class ObjectStore(Protocol):
    url: str

    def list(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix`` (``packs/``, ``recipes/``): key -> size."""
        ...

    def read(self, key: str, limit: int) -> bytes | None:
        """The whole object, or None when there is none; IntegrityError if it is over ``limit``."""
        ...

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of an object; exactly that many or an error."""
        ...

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        """Bytes ``start`` to ``end`` (exclusive) of an object in a buffer of the remote's choosing
        (freed with its last view): exactly that many or an error."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (readers see no object or the whole one)."""
        ...

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        """Store the ``size`` bytes ``parts()`` yields under ``key``, atomically, holding about one
        part at a time (a part may be a view of a buffer the next one reuses); an error from
        ``parts`` leaves no object. ``parts`` may be called again (a write tried again)."""
        ...

    def quarantine(self, key: str) -> str | None:
        """Move an object found corrupt to ``quarantine/`` (kept); where it went, or None if gone."""
        ...
