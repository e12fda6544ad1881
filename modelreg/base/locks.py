"""Inter-process locks (``filelock``) that end in exit 4 when not obtained in time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from modelreg.errors import LockTimeoutError


@contextmanager
def hold(path: Path, timeout: float, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LockTimeoutError(
            f"{what} is locked by another modelreg process; gave up after {timeout:g}s "
            "(raise MODELREG_LOCK_TIMEOUT or try again)"
        ) from None
    try:
        yield
    finally:
        lock.release()
