"""Inter-process locks that end in exit 4 when not obtained in time.

``hold`` is an exclusive lock (a model, the audit log). ``hold_shared``/``hold_exclusive`` are
the two sides of a reader/writer lock: the changes that may reference blobs share it, and gc
takes it alone, so gc never runs while a change is about to reference what gc would remove. All
are the kernel's own (``flock(2)``, shared or exclusive on one file, released when the process
ends however it ends), which needs no library: filelock's reader/writer lock is an SQLite
database whose first use loaded sockets, temporary files and ctypes (12 ms of every register),
and importing filelock itself (logging, inspect, hmac...) cost a writing command 10 ms more.
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


def hold(path: Path, timeout: float, what: str) -> AbstractContextManager[None]:
    """An exclusive lock: one holder at a time (a model, the audit log)."""
    return _rw(path, timeout, what, write=True)


@contextmanager
def _rw(path: Path, timeout: float, what: str, *, write: bool) -> Iterator[None]:
    import fcntl
    import os
    import stat
    import time

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not following a link, not blocking on a FIFO planted there: a lock is a regular file.
        # Exclusive needs a descriptor open for writing where flock is emulated with fcntl
        # locks (NFS); nothing is ever written to it.
        access = os.O_RDWR if write else os.O_RDONLY
        fd = os.open(path, access | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _refusal(exc, path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IntegrityError(f"the lock {path} is not a regular file", code="corrupt_registry")
        mode = (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _timeout(what, timeout) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            except OSError as exc:
                raise _refusal(exc, path) from None
        yield
    finally:
        os.close(fd)  # which releases the lock


def hold_shared(path: Path, timeout: float, what: str) -> AbstractContextManager[None]:
    return _rw(path, timeout, what, write=False)


def hold_exclusive(path: Path, timeout: float, what: str) -> AbstractContextManager[None]:
    return _rw(path, timeout, what, write=True)
