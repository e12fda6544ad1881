"""Inter-process locks (``filelock``) that end in exit 4 when not obtained in time.

``hold`` is an exclusive lock (a model, the audit log). ``hold_shared``/``hold_exclusive`` are
the two sides of a reader/writer lock: the changes that may reference blobs share it, and gc
takes it alone, so gc never runs while a change is about to reference what gc would remove.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from modelreg.errors import IntegrityError, LockTimeoutError, StorageError


def _timeout(what: str, timeout: float) -> LockTimeoutError:
    return LockTimeoutError(
        f"{what} is locked by another modelreg process; gave up after {timeout:g}s "
        "(raise MODELREG_LOCK_TIMEOUT or try again)"
    )


def _refusal(exc: OSError, path: Path) -> Exception:
    if exc.errno == errno.ELOOP:
        return IntegrityError(f"{path} is a symbolic link: modelreg never follows links inside a registry")
    return StorageError(f"cannot take the lock {path}: {exc.strerror or exc}")


@contextmanager
def hold(path: Path, timeout: float, what: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=timeout)
        lock.acquire()
    except Timeout:
        raise _timeout(what, timeout) from None
    except OSError as exc:
        raise _refusal(exc, path) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _rw(path: Path, timeout: float, what: str, *, write: bool) -> Iterator[None]:
    import sqlite3  # filelock's reader/writer lock is an SQLite database

    from filelock import ReadWriteLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = ReadWriteLock(str(path), timeout=timeout, is_singleton=False)
        if write:
            lock.acquire_write()
        else:
            lock.acquire_read()
    except Timeout:
        raise _timeout(what, timeout) from None
    except OSError as exc:
        raise _refusal(exc, path) from None
    except sqlite3.Error as exc:
        raise StorageError(f"cannot take the lock {path}: {exc}") from None
    try:
        yield
    finally:
        lock.release()
        lock.close()


def hold_shared(path: Path, timeout: float, what: str) -> AbstractContextManager[None]:
    return _rw(path, timeout, what, write=False)


def hold_exclusive(path: Path, timeout: float, what: str) -> AbstractContextManager[None]:
    return _rw(path, timeout, what, write=True)
