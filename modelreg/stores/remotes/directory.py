"""A remote in a directory: a shared disk, an NFS mount, a synced folder.

The directory must exist: ``push`` never creates it, so a typo in the url is reported instead of
silently starting a second store. Folders inside it are created as needed. An object is read
only if it is a regular file (never through a symlink, never a FIFO or a device, which would hang
or never end) and never past the bound the caller gives. A write goes to a private temporary name
in the target folder and is renamed (or linked) into place: readers see no object or all of it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from modelreg.base.fs import fsync_dir, write_all
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, ModelregError, NotFoundError, RemoteError, StorageError

from .backend import SWAP_LIMIT, Backend, ObjectInfo, Tagged, check_key

_COPY_CHUNK = 1024 * 1024
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows needs it; 0 elsewhere
_O_READ = os.O_RDONLY | _O_BINARY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
_SWAP_LOCK_TIMEOUT = 30.0
_NO_HARDLINK_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOSYS})


class DirectoryBackend(Backend):
    def __init__(self, path: Path) -> None:
        # abspath, not resolve(): keep a symlinked mount point as the user wrote it.
        self.path = Path(os.path.abspath(path))
        self.url = str(self.path)

    def __repr__(self) -> str:
        return f"DirectoryBackend({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.path / check_key(key)

    def location(self, key: str) -> str:
        return str(self._path(key))

    # -- the interface -------------------------------------------------------------------------

    def require_root(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise NotFoundError(
                f"the remote directory {self.url} does not exist: create it (mkdir -p {self.url}) if that "
                "is the right place, or fix [remote] url in modelreg.toml",
                code="remote_missing",
            ) from None
        except OSError as exc:
            raise self._read_error(exc) from exc
        if not stat.S_ISDIR(st.st_mode):
            raise NotFoundError(
                f"the remote {self.url} is not a directory: fix [remote] url in modelreg.toml", code="remote_missing"
            )

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = os.lstat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._read_error(exc) from exc
        kind = None if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
        return ObjectInfo(st.st_size, f"{st.st_dev}:{st.st_ino}", kind)

    def list(self, prefix: str) -> dict[str, int]:
        self.require_root()
        folder, _, start = prefix.rpartition("/")
        if folder:
            check_key(folder)
        found: dict[str, int] = {}
        try:
            entries = list(os.scandir(self.path / folder))
        except (FileNotFoundError, NotADirectoryError):
            return found
        except OSError as exc:
            raise self._read_error(exc) from exc
        for entry in entries:
            if not entry.name.startswith(start) or entry.name.startswith("."):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[f"{folder}/{entry.name}" if folder else entry.name] = st.st_size
        return found

    def read(self, key: str, limit: int) -> bytes | None:
        fd = self._open(key)
        if fd is None:
            self.require_root()  # a missing remote directory is an error, not an empty store
            return None
        try:
            if os.fstat(fd).st_size > limit:
                raise too_large(key, self.url, limit)
            data = os.pread(fd, limit + 1, 0)
        except OSError as exc:
            raise self._read_error(exc) from exc
        finally:
            os.close(fd)
        if len(data) > limit:
            raise too_large(key, self.url, limit)
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        fd = self._open(key)
        if fd is None:
            raise RemoteError(f"the object {key} went from the remote {self.url} while it was read; try again")
        try:
            parts = []
            got = 0
            while got < end - start:
                piece = os.pread(fd, min(end - start - got, 16 << 20), start + got)
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
        except OSError as exc:
            raise self._read_error(exc) from exc
        finally:
            os.close(fd)
        data = b"".join(parts)
        if len(data) != end - start:
            raise IntegrityError(
                f"the object {key} on the remote {self.url} is shorter than its index says", code="remote_corrupt"
            )
        return data

    def read_range_into(self, key: str, start: int, buf: memoryview) -> None:
        fd = self._open(key)
        if fd is None:
            raise RemoteError(f"the object {key} went from the remote {self.url} while it was read; try again")
        got = 0
        try:
            while got < len(buf):
                n = os.preadv(fd, [buf[got:]], start + got)
                if not n:
                    break
                got += n
        except OSError as exc:
            raise self._read_error(exc) from exc
        finally:
            os.close(fd)
        if got != len(buf):
            raise IntegrityError(
                f"the object {key} on the remote {self.url} is shorter than its index says", code="remote_corrupt"
            )

    def get_file(self, key: str, dest: Path, info: ObjectInfo, progress: Progress | None = None) -> None:
        fd = self._open(key)
        if fd is None:
            raise RemoteError(f"the object {key} went from the remote {self.url} while it was read; try again")
        with os.fdopen(fd, "rb") as inp:
            st = os.fstat(inp.fileno())
            if f"{st.st_dev}:{st.st_ino}" != info.tag:
                raise RemoteError(f"the object {key} on the remote {self.url} changed while it was read; try again")
            with open(dest, "xb") as out:
                # one byte past the size at most: enough to see that a file grew, never more
                copied = _copy(inp, out.fileno(), info.size + 1, progress, on_read=self._read_error)
                if copied > info.size:
                    raise IntegrityError(
                        f"the object {key} on the remote {self.url} grew while it was read; it was not read further",
                        code="remote_corrupt",
                    )
                os.fsync(out.fileno())

    def put_file(self, key: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        final = self._path(key)
        self.require_root()
        self._make_dirs(final.parent)
        tmp = final.parent / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        on_write = self._write_error
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
            except OSError as exc:
                raise on_write(exc) from exc
            try:
                with open(src, "rb") as inp:
                    copied = _copy(inp, fd, size + 1, progress, on_write=on_write)
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise on_write(exc) from exc
            finally:
                os.close(fd)
            if copied != size:
                raise IntegrityError(f"{src} changed while it was uploaded ({copied} bytes read, {size} expected)")
            return _publish(tmp, final, on_write)
        finally:
            tmp.unlink(missing_ok=True)

    def write(self, key: str, data: bytes) -> None:
        self.write_parts(key, len(data), lambda: [data])

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        final = self._path(key)
        self.require_root()
        self._make_dirs(final.parent)
        tmp = final.parent / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
                try:
                    written = 0
                    for part in parts():
                        write_all(fd, part)
                        written += len(part)
                    if written != size:
                        raise IntegrityError(f"{written} bytes were given for {key}, not {size}")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, final)
            except OSError as exc:
                raise self._write_error(exc) from exc
            fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def move_aside(self, key: str, target: str, tag: str | None) -> str | None:
        source, destination = self._path(key), self._path(target)
        if tag is not None:
            seen = self.stat(key)
            if seen is None or seen.tag != tag:
                return None  # replaced (or removed) since: leave the newer object alone
        self._make_dirs(destination.parent)
        try:
            os.rename(source, destination)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._write_error(exc) from exc
        fsync_dir(source.parent)
        fsync_dir(destination.parent)
        return str(destination)

    # -- conditional writes ------------------------------------------------------------------
    # The tag of a directory object is the SHA-256 of its bytes: unlike an inode number, it cannot
    # come back for another object after the first is gone.

    def read_tagged(self, key: str, limit: int) -> Tagged | None:
        import hashlib

        data = self.read(key, limit)
        if data is None:
            return None
        return Tagged(data, hashlib.sha256(data).hexdigest())

    def create(self, key: str, data: bytes) -> bool:
        final = self._path(key)
        self.require_root()
        self._make_dirs(final.parent)
        tmp = self._staged(final, data)
        try:
            try:
                os.link(tmp, final)  # link() never replaces: one racing writer alone succeeds
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno in _NO_HARDLINK_ERRNOS:
                    raise RemoteError(
                        f"the remote {self.url} cannot create an object only where there is none (its "
                        "filesystem has no hard links), so it cannot hold claims"
                    ) from exc
                raise self._write_error(exc) from exc
            fsync_dir(final.parent)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def swap(self, key: str, data: bytes, expected_tag: str) -> bool:
        from filelock import FileLock, Timeout

        final = self._path(key)
        self.require_root()
        self._make_dirs(final.parent)
        # Writers of one key take turns on a lock file beside it (released by the system when a
        # holder dies); under it, the object is compared and replaced in one step.
        lock = FileLock(str(final.parent / f".lock-{final.name}"), timeout=_SWAP_LOCK_TIMEOUT)
        try:
            with lock:
                seen = self.read_tagged(key, SWAP_LIMIT)
                if seen is None or seen.tag != expected_tag:
                    return False
                tmp = self._staged(final, data)
                try:
                    os.replace(tmp, final)
                except OSError as exc:
                    raise self._write_error(exc) from exc
                finally:
                    tmp.unlink(missing_ok=True)
                fsync_dir(final.parent)
                return True
        except Timeout:
            raise RemoteError(f"the object {key} on the remote {self.url} stayed locked; try again") from None
        except OSError as exc:
            raise self._write_error(exc) from exc

    def _staged(self, final: Path, data: bytes) -> Path:
        """``data`` in a new private file beside ``final``, flushed."""
        tmp = final.parent / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._write_error(exc) from exc
        return tmp

    # -- helpers -------------------------------------------------------------------------------

    def _open(self, key: str) -> int | None:
        """A read-only descriptor of the regular file under ``key``, or None when there is none."""
        try:
            # Not through a symlink, and without blocking on a FIFO that has no writer.
            fd = os.open(self._path(key), _O_READ)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise IntegrityError(f"the object {key} on the remote {self.url} is a symbolic link") from None
            raise self._read_error(exc) from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise IntegrityError(f"the object {key} on the remote {self.url} is {_kind(st.st_mode)}")
        os.set_blocking(fd, True)
        return fd

    def _make_dirs(self, directory: Path) -> None:
        """Create the folders between the remote's root (never the root itself) and ``directory``."""
        missing = []
        while directory != self.path and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for folder in reversed(missing):
            try:
                folder.mkdir(exist_ok=True)
            except FileNotFoundError:
                self.require_root()
                raise RemoteError(f"cannot create {folder} in the remote {self.url}") from None
            except OSError as exc:
                raise self._write_error(exc) from exc

    def _write_error(self, exc: OSError) -> ModelregError:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(f"the remote {self.url} is full ({reason}): free space there, then push again")
        return RemoteError(f"cannot write to remote {self.url}: {reason}")

    def _read_error(self, exc: OSError) -> ModelregError:
        return RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}")


def too_large(key: str, where: str, limit: int) -> IntegrityError:
    return IntegrityError(
        f"the object {key} on the remote {where} is larger than it can be ({limit} bytes at most); "
        "it was not read further",
        code="remote_corrupt",
    )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _copy(
    inp: BinaryIO,
    out_fd: int,
    limit: int,
    progress: Progress | None,
    *,
    on_read: Callable[[OSError], ModelregError] | None = None,
    on_write: Callable[[OSError], ModelregError] | None = None,
) -> int:
    """Copy at most ``limit`` bytes; OSErrors of one side become what ``on_read``/``on_write`` say."""
    total = 0
    while total < limit:
        try:
            chunk = inp.read(min(_COPY_CHUNK, limit - total))
        except OSError as exc:
            if on_read is None:
                raise
            raise on_read(exc) from exc
        if not chunk:
            break
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(out_fd, view) :]
        except OSError as exc:
            if on_write is None:
                raise
            raise on_write(exc) from exc
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total


def _publish(tmp: Path, final: Path, on_error: Callable[[OSError], ModelregError]) -> bool:
    """Move a finished temp file to its name; False when another writer got there first."""
    try:
        # link() refuses to overwrite, so exactly one of several racing writers reports True.
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK_ERRNOS:
            raise on_error(exc) from exc
        # No hard links on this filesystem (some SMB/FUSE mounts): an atomic replace is
        # still safe because every writer of this name writes the same bytes.
        try:
            os.replace(tmp, final)
        except OSError as exc2:
            raise on_error(exc2) from exc2
    fsync_dir(final.parent)
    return True
