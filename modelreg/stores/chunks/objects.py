"""What the chunk store needs of a remote: named objects (stores/remotes/objects.py opens them)."""

from __future__ import annotations

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

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (readers see no object or the whole one)."""
        ...

    def quarantine(self, key: str) -> str | None:
        """Move an object found corrupt to ``quarantine/`` (kept); where it went, or None if gone."""
        ...
