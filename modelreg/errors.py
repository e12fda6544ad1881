"""Exception types of modelreg; each carries its exit code and a stable error code."""

from __future__ import annotations

from typing import Any


class ModelregError(Exception):
    """Base of every error modelreg raises on purpose."""

    exit_code = 1
    code = "internal"
    # Extra keys of the JSON error object (a policy refusal lists the rules that failed).
    details: dict[str, Any] | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UsageError(ModelregError):
    """Invalid usage or input: bad flag, name, value, path or malformed file (exit 2)."""

    exit_code = 2
    code = "invalid_input"


class NotFoundError(ModelregError):
    """No registry, model, version, stage holder or blob (exit 3)."""

    exit_code = 3
    code = "not_found"


class ConflictError(ModelregError):
    """Refused by the registry's state or a policy (exit 4)."""

    exit_code = 4
    code = "conflict"


class PolicyError(ConflictError):
    """Refused by a promotion policy (exit 4); ``failed`` lists every rule that failed."""

    code = "policy"

    def __init__(self, message: str, *, failed: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = {"failed": list(failed or [])}


class LockTimeoutError(ConflictError):
    """A lock was not obtained in time (exit 4)."""

    code = "lock_timeout"


class RemoteError(ConflictError):
    """A remote store that cannot be reached or refuses the credentials (exit 4)."""

    code = "remote_unavailable"


class StorageError(ConflictError):
    """The environment refuses a write: a full disk, a read-only registry or cache (exit 4)."""

    code = "storage"


class IntegrityError(ModelregError):
    """Digest mismatch, broken audit chain or corrupt manifest (exit 5)."""

    exit_code = 5
    code = "integrity"


class Interrupted(ModelregError):
    """Ctrl-C: the registry is left valid (exit 130)."""

    exit_code = 130
    code = "interrupted"


def caused_by_interrupt(exc: BaseException) -> bool:
    """True if Ctrl-C is behind ``exc``: Python wraps an interrupt inside some machinery (class
    creation, for one) in another exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
