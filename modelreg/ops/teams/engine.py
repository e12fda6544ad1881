"""Claim engines: where clones claim version numbers and compare-and-swap a model's pointers.

An engine holds, per model, one object per claimed number (``claims/<model>/<n>``) and one
pointers object (``pointers/<model>``). The object engine keeps them in the registry's ``[remote]``
store through the backend's conditional writes (``create``: S3 ``If-None-Match: *``; ``swap``: S3
``If-Match``). Nothing an engine returns is trusted: every read is bounded and parsed strictly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from modelreg.errors import NotFoundError, RemoteError, StorageError, UsageError
from modelreg.ops.teams.base import CLAIM_LIMIT, POINTERS_LIMIT, Engine, unreachable
from modelreg.records.names import validate_name

if TYPE_CHECKING:
    from modelreg.repo import Repo
    from modelreg.stores.remotes.backend import Backend, Tagged

T = TypeVar("T")

__all__ = ["CLAIM_LIMIT", "POINTERS_LIMIT", "Engine", "ObjectEngine", "open_engine", "trusted_engine"]


def claim_key(model: str, number: int) -> str:
    return f"claims/{validate_name(model)}/{number}"


def pointers_key(model: str) -> str:
    return f"pointers/{validate_name(model)}"


class ObjectEngine(Engine):
    """Claims and pointers as objects in a store with conditional writes (S3, or a directory)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url
        self.name = f"the claim engine at {backend.url}"

    def create_claim(self, model: str, number: int, data: bytes) -> bool:
        return self._call(lambda: self.backend.create(claim_key(model, number), data), write=True)

    def read_claim(self, model: str, number: int) -> bytes | None:
        return self._call(lambda: self.backend.read(claim_key(model, number), CLAIM_LIMIT))

    def claimed(self, model: str) -> list[int]:
        prefix = f"claims/{validate_name(model)}/"
        listed = self._call(lambda: self.backend.list(prefix))
        numbers = (key[len(prefix) :] for key in listed)
        # Only plain decimal numbers count: anything else under the prefix is not a claim.
        return sorted(int(n) for n in numbers if n.isascii() and n.isdigit() and not n.startswith("0") and len(n) <= 9)

    def read_pointers(self, model: str) -> Tagged | None:
        return self._call(lambda: self.backend.read_tagged(pointers_key(model), POINTERS_LIMIT))

    def create_pointers(self, model: str, data: bytes) -> bool:
        return self._call(lambda: self.backend.create(pointers_key(model), data), write=True)

    def swap_pointers(self, model: str, data: bytes, tag: str) -> bool:
        return self._call(lambda: self.backend.swap(pointers_key(model), data, tag), write=True)

    def _call(self, call: Callable[[], T], *, write: bool = False) -> T:
        try:
            return call()
        except (RemoteError, NotFoundError, StorageError) as exc:  # unreachable, missing, full
            raise unreachable(self, exc, write=write) from exc


def open_engine(repo: Repo) -> Engine | None:
    """The registry's claim engine, or None when ``[claims]`` is not configured."""
    engine = repo.config.claims.engine
    if engine is None:
        return None
    if engine == "git":
        from modelreg.ops.teams.git_engine import GitEngine

        return GitEngine(repo.root, repo.config.claims.git_remote)
    from modelreg.stores.remotes.backend import Retrying
    from modelreg.stores.remotes.blob_remote import BlobRemote

    if not repo.config.remote_url():
        raise UsageError(
            '[claims] engine = "s3" claims on the [remote] store, and no [remote] url is set in modelreg.toml',
            code="invalid_config",
        )
    remote = repo.remote()
    if not isinstance(remote, BlobRemote):  # pragma: no cover - every remote is a BlobRemote
        raise UsageError(f"the remote {repo.config.remote_url()} cannot hold claims")
    return ObjectEngine(Retrying(remote.backend, attempts=3, pause=0.1))


def trusted_engine(repo: Repo) -> Engine | None:
    """The claim engine for a change: on its first use on this machine, ``remote check`` runs
    first, and an engine that failed it is refused (exit 4) until a check passes."""
    engine = open_engine(repo)
    if engine is None or not isinstance(engine, ObjectEngine):
        return engine
    from modelreg.ops.teams.check import check_backend, remember, remembered

    verdict = remembered(engine.url)
    if verdict is None:
        try:
            report = check_backend(engine.backend)
        except (RemoteError, NotFoundError, StorageError) as exc:
            raise unreachable(engine, exc) from exc
        remember(report)
        if not report.ok:
            raise report.refusal()
    elif not verdict:
        from modelreg.errors import ConflictError

        raise ConflictError(
            f"{engine.name} failed 'modelreg remote check' on this machine: two writers could both win there, so "
            "it is not used for claims; run 'modelreg remote check' again once the store is fixed",
            code="engine_untrusted",
        )
    return engine
