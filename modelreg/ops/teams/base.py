"""The interface every claim engine implements (docs/reference/claims.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from modelreg.errors import ModelregError, RemoteError

if TYPE_CHECKING:
    from modelreg.stores.remotes.backend import Tagged

CLAIM_LIMIT = 4096  # a claim record is a few hundred bytes
POINTERS_LIMIT = 1 << 20


class Engine(ABC):
    """One engine: claims are created once and never change; pointers change by swaps only."""

    name: str  # for people: "the s3 claim engine at s3://bucket/prefix"
    url: str  # identifies the engine (the remote check's verdict is kept per url)

    @abstractmethod
    def create_claim(self, model: str, number: int, data: bytes) -> bool:
        """Store the claim only if the number is free; whether this call stored it."""

    @abstractmethod
    def read_claim(self, model: str, number: int) -> bytes | None: ...

    @abstractmethod
    def claimed(self, model: str) -> list[int]:
        """Every number claimed for ``model``, ascending."""

    @abstractmethod
    def read_pointers(self, model: str) -> Tagged | None: ...

    @abstractmethod
    def create_pointers(self, model: str, data: bytes) -> bool: ...

    @abstractmethod
    def swap_pointers(self, model: str, data: bytes, tag: str) -> bool: ...


def unreachable(engine: Engine, exc: ModelregError, *, write: bool = False) -> RemoteError:
    """The one line a command refuses with when the engine cannot be used."""
    if write:
        # A write whose answer never came may have been applied: say what that leaves behind.
        return RemoteError(
            f"cannot use {engine.name}: {exc.message}; nothing was changed here, but the engine may have taken "
            "the write before its answer was lost (a number taken so stays claimed and unused, a pointer "
            "swap is undone by this clone's next change): try again once it answers",
            code="claims_unavailable",
        )
    return RemoteError(
        f"cannot use {engine.name}: {exc.message}; nothing was claimed or changed, try again once it answers",
        code="claims_unavailable",
    )
