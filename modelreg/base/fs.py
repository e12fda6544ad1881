"""File primitives every layer shares.

- Crash safety: every write goes to a temporary file, is flushed and renamed into place.
- No escape: a registry may arrive from someone else, so nothing inside it is read or written
  through a symbolic link (``Tree``, ``open_regular``), and nothing is read past a bound.
- The environment's refusals (a full disk, a read-only filesystem) become ``StorageError``
  naming the path, not a crash.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from modelreg.errors import IntegrityError, StorageError

TMP_SUFFIX = ".mrtmp"
# Short and independent of the target's name, so that any name the filesystem holds can be
# written through a temporary: ``.mr.<pid>.<random>.mrtmp``.
_TMP_PREFIX = ".mr."
REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def tmp_name(target: Path) -> Path:
    """A unique temporary path beside ``target``; the suffix lets verify and gc recognise leftovers,
    and the pid in it tells them whether its writer still runs."""
    return target.with_name(f"{_TMP_PREFIX}{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")


def tmp_owner(name: str) -> int | None:
    """The pid of the process that made temporary name ``name`` (None if it is not one)."""
    if not name.endswith(TMP_SUFFIX):
        return None
    parts = name.split(".")
    try:
        return int(parts[-3])
    except (IndexError, ValueError):
        return None


def writer_alive(name: str) -> bool:
    """Whether the process that made temporary name ``name`` may still be writing (this one may)."""
    pid = tmp_owner(name)
    return pid is not None and (pid == os.getpid() or pid_alive(pid))


def leftovers(top: Path) -> list[Path]:
    """Temporary files and folders of interrupted writes below ``top``: temporary names whose
    writer no longer runs. No symlink is followed and a leftover folder is not entered."""
    if not top.is_dir() or top.is_symlink():
        return []
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in list(dirnames):
            if name.endswith(TMP_SUFFIX) and not writer_alive(name):
                found.append(Path(dirpath, name))
                dirnames.remove(name)
        found.extend(Path(dirpath, n) for n in filenames if n.endswith(TMP_SUFFIX) and not writer_alive(n))
    return sorted(found)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def refused(exc: OSError, path: Path | str) -> StorageError:
    """A write the environment refused, as the error a user sees (exit 4)."""
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")


class Tree:
    """A directory whose subdirectories are never followed through a symlink (a registry)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._checked: set[str] = set()  # directories found free of links by this object

    def inside(self, path: Path) -> Path:
        """``path`` (under the root) after checking that no directory between them is a symlink.

        The last component is not checked: opening it with ``open_regular`` (O_NOFOLLOW) or
        replacing it with ``atomic_write`` (a rename) never follows a link there.
        """
        parent = path.parent
        if str(parent) in self._checked:
            return path
        current = self.root
        for part in parent.relative_to(self.root).parts:
            current = current / part
            if str(current) in self._checked:
                continue
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return path  # created later by a write that goes through this check again
            if stat.S_ISLNK(st.st_mode):
                raise IntegrityError(
                    f"{current} is a symbolic link: modelreg never follows links inside a registry "
                    "(make it a real directory)",
                    code="symlink_in_registry",
                )
            if not stat.S_ISDIR(st.st_mode):
                raise IntegrityError(f"{current} should be a directory", code="corrupt_registry")
            self._checked.add(str(current))
        return path


def open_regular(path: Path, *, limit: int | None = None) -> int:
    """Open a file for reading without following a symlink at its name and without blocking on
    a FIFO or a device: anything but a regular file is refused. Returns the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IntegrityError(
                f"{path} is a symbolic link: modelreg never follows links inside a registry",
                code="symlink_in_registry",
            ) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise IntegrityError(f"{path} is not a regular file", code="corrupt_registry")
    if limit is not None and st.st_size > limit:
        os.close(fd)
        raise OverflowError(st.st_size)
    os.set_blocking(fd, True)
    return fd


def read_limited(path: Path, limit: int) -> bytes:
    """Read a small regular file, refusing one larger than ``limit`` bytes before reading it."""
    fd = open_regular(path, limit=limit)
    with os.fdopen(fd, "rb") as fh:
        # What the file holds, not the limit: read(limit) would set aside the whole limit first.
        data = fh.read(min(os.fstat(fd).st_size, limit) + 1)
        while len(data) <= limit:  # grew since the stat: read on, a MiB at a time, to the limit
            more = fh.read(min(1 << 20, limit + 1 - len(data)))
            if not more:
                break
            data += more
    if len(data) > limit:  # grew while being read
        raise OverflowError(len(data))
    return data


def aside_name(base: str) -> str:
    """``base.<UTC time>.<random>``: unique, so a second bad copy set aside never replaces a first."""
    import time

    return f"{base}.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.{os.urandom(4).hex()}"


def move_aside(path: Path, folder: Path, base: str) -> Path | None:
    """Rename ``path`` into ``folder`` (which exists) under ``aside_name(base)``, durably; None if
    it is gone already. What is set aside is kept, never deleted."""
    target = folder / aside_name(base)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    fsync_dir(path.parent)
    fsync_dir(folder)
    return target


def read_own(path: Path, limit: int) -> bytes | None:
    """A file this machine keeps for itself (a cache entry, a stamp, a record), or None when it is
    missing, over ``limit`` or anything but a regular file: a clone may have put a symlink or a
    FIFO in its place, which must neither be followed nor block."""
    try:
        return read_limited(path, limit)
    except (OSError, OverflowError, IntegrityError):
        return None


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a regular file (never through a symlink, never from a FIFO)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(size)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that a reader or a crash sees the old or the new file.

    A full disk or an unwritable directory is a ``StorageError`` naming ``path``; nothing of the
    temporary file is left.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in REFUSED:
            raise refused(exc, path) from None
        raise
    try:
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in REFUSED:
            raise refused(exc, path) from None
        raise
    if durable:
        fsync_dir(path.parent)
